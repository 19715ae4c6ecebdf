"""Unpaired image-to-image translation (`--task image-to-image --model cyclegan`): does a translation keep the content
and change the style?

The `shapes` recipe (one shape per 32-px image, seed 0) as two unpaired image columns: the red shapes' images in
`red`, the blue shapes' in `blue`, no row with both. A CycleGAN learns red -> blue from them; the held-out (test) red
shapes are translated and read by attribute readers trained on real images of both columns (generation/readers.py,
trusted only where they read 90% of the held-out real images right): colour should read blue (style changed), shape,
size and position as the source image's (content kept). The untranslated red images, read the same way, are the
baseline (content kept, colour never blue). Per seed, one fit; reported as mean ± std over seeds, with the held-out
cycle error (|F(G(a)) - a|, pixels in [0, 1]) and the training seconds.

    python benchmarks/bench_translation.py [--seeds 0 1 2] [--size 1500]

Training: the model's default 3,000 steps (generation/generator.py's DEFAULT_STEPS) in batches of 16.

Resumable: each finished seed is saved atomically under `--state`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import command_line, head, mean_std, publish, stored
from polymodal import Generator
from polymodal.data.recipes import build
from polymodal.generation.translation import summary_rows
from polymodal.paths import data_home, home

FIGURE = Path(__file__).resolve().parent / "figures" / "translation.png"


def table(size: int) -> Path:
    path = build("shapes", data_home() / f"shapes-translate-{size}", size=size, seed=0, image_size=32,
                 two_shape_fraction=0.0)
    out = path.with_name("red-blue.parquet")
    if not out.exists():
        df = pd.read_parquet(path)
        df = df[df["color"].isin(["red", "blue"])]
        images = [str(path.parent / p) for p in df["image"]]
        pd.DataFrame({"red": np.where(df["color"] == "red", images, None),
                      "blue": np.where(df["color"] == "blue", images, None),
                      **{c: df[c].to_numpy() for c in ("shape", "color", "size", "position", "split")}}
                     ).to_parquet(out, index=False)
    return out


def run(size: int, seed: int, figure: Path | None) -> pd.DataFrame:
    path = table(size)
    g = Generator("image-to-image", "cyclegan", source="red", target="blue", seed=seed, batch_size=16,
                  attributes=["shape", "color", "size", "position"], progress=False)
    started = time.time()
    g.fit(path)
    seconds = time.time() - started
    if figure is not None and g.previews_:
        figure.parent.mkdir(parents=True, exist_ok=True)
        figure.write_bytes(g.previews_[-1])
    rows = summary_rows(g.metrics_)
    return rows.assign(seed=seed, cycle_l1=g.metrics_["cycle_l1_source"], train_seconds=g.train_seconds_,
                       fit_seconds=seconds, epochs=len(g.history_), rows_red=g.domain_sizes_["source"],
                       rows_blue=g.domain_sizes_["target"], eval_rows=g.metrics_["eval_rows"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--size", type=int, default=1500, help="rows of the shapes table (a fifth are red, a fifth "
                        "blue)")
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "translation")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    frames = [stored(args.state / f"size{args.size}-seed{seed}.csv",
                     lambda s=seed: run(args.size, s, None if args.no_write or s != args.seeds[0]
                                        else FIGURE),
                     lambda df: f"seed {df['seed'].iloc[0]}: " + ", ".join(
                         f"{r.judged} {r.attribute} {r.translated:.3f}" for r in df.itertuples()))
              for seed in args.seeds]
    rows = pd.concat(frames, ignore_index=True)
    first = rows.iloc[0]
    body = ["| attribute | judged | translated | untranslated (baseline) | reader on real images |",
            "|---|---|---:|---:|---:|"]
    for (name, judged), g in rows.groupby(["attribute", "judged"], sort=False):
        body.append(f"| {name} | {judged} | {mean_std(g['translated'])} | "
                    f"{mean_std(g['untranslated (baseline)'])} | {mean_std(g['reader on real images'])} |")
    per_seed = rows.drop_duplicates("seed")
    body += ["", f"Held-out cycle error |F(G(a)) - a|: {mean_std(per_seed['cycle_l1'])}; training "
             f"{per_seed['train_seconds'].median():.0f} s ({int(per_seed['epochs'].median())} epochs) a seed, "
             f"{int(first['rows_red'])} red and {int(first['rows_blue'])} blue training images, "
             f"{int(first['eval_rows'])} held-out red images judged."]
    if not args.no_write:
        body += ["", f"![held-out red shapes, their blue translations and back](benchmarks/figures/{FIGURE.name})"]
    opening = head("Unpaired translation: red shapes to blue (CycleGAN)", command_line("bench_translation.py", argv),
                   f"{len(args.seeds)} seeds (mean ± std). The shapes table's red and blue images as two unpaired "
                   "columns; the held-out red images translated to blue and read by attribute readers trained on real "
                   "images of both. Colour is style (should read blue); shape, size and position are content (should "
                   "read as the source image's).")
    publish("translation", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
