"""A wide table: 50 numeric and 10 categorical columns, an image and a caption, `--fusion all`, grouped into
one `tabular` modality (the default) against `--tabular separate`.

The table is generated (seeded): the label (3 classes) is a noisy function of 5 of the numeric columns and 2
of the categorical ones; the others are noise; the image is a colour square whose hue agrees with the label
on 40% of the rows, and the caption names the label on 20% of them. Each seed fits
`Predictor(fusion="all")` twice: grouped, with no time limit (the target: within 5 minutes for 5,000 rows on
a quiet 2-core machine), and separate, under a 300-s time limit (otherwise it does not end: 62 modalities,
62 baselines, and a tensor fusion over 62 inputs). Reported on the test split: the saved model's accuracy,
the number of candidates planned and finished, and the fit's wall seconds.

    python benchmarks/bench_wide.py [--rows 5000] [--seeds 0 1 2]

Resumable: each finished (rows, seed, mode) is saved atomically under `--state`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.paths import data_home, home

CLASSES = ("low", "mid", "high")
HUES = {"low": (200, 40, 40), "mid": (40, 200, 40), "high": (40, 40, 200)}


def make_table(rows: int, seed: int = 0) -> Path:
    folder = data_home() / f"wide-{rows}-seed{seed}"
    path = folder / "table.csv"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    numbers = rng.normal(0, 1, (rows, 50))
    cats = rng.integers(0, 5, (rows, 10))
    score = numbers[:, :5] @ np.array([1.0, -0.8, 0.6, 0.5, -0.4]) + 0.7 * (cats[:, 0] == 2) - 0.7 * (cats[:, 1] == 4)
    score += rng.normal(0, 0.5, rows)
    label = np.array(CLASSES)[np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))]
    (folder / "img").mkdir(parents=True, exist_ok=True)
    images, captions = [], []
    for i in range(rows):
        hue = HUES[label[i]] if rng.random() < 0.4 else HUES[CLASSES[rng.integers(0, 3)]]
        pixels = np.clip(np.array(hue) + rng.normal(0, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "img" / f"{i}.png")
        images.append(f"img/{i}.png")
        named = f" in the {label[i]} band" if rng.random() < 0.2 else ""
        captions.append(f"record {i} measured on day {rng.integers(1, 30)}{named}")
    df = pd.DataFrame(numbers, columns=[f"x{j}" for j in range(50)])
    for j in range(10):
        df[f"k{j}"] = [f"c{v}" for v in cats[:, j]]
    df["image"], df["caption"], df["label"] = images, captions, label
    df["split"] = rng.choice(["train", "val", "test"], rows, p=[0.7, 0.15, 0.15])
    tmp = path.with_suffix(".tmp.csv")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def run(rows: int, seed: int, mode: str) -> dict:
    table = make_table(rows)
    p = Predictor("label", fusion="all", tabular=mode, seed=seed, progress=False,
                  time_limit=300 if mode == "separate" else None)
    started = time.time()
    p.fit(table)
    planned = len([c for c in p.candidates_ if c.kind != "ensemble"]) + len(p.skipped_candidates_)
    return {"rows": rows, "seed": seed, "mode": mode, "modalities": len(p.columns_), "planned": planned,
            "skipped": len(p.skipped_candidates_), "chosen": p.best_.name,
            "test_accuracy": p.best_.test["accuracy"], "seconds": round(time.time() - started, 1)}


def run_or_load(state: Path, rows: int, seed: int, mode: str) -> pd.DataFrame:
    return stored(state / f"wide{rows}-seed{seed}-{mode}.csv", lambda: pd.DataFrame([run(rows, seed, mode)]),
                  lambda df: f"seed {seed} {mode}: {df['test_accuracy'].iloc[0]:.3f} in {df['seconds'].iloc[0]:.0f} s")


def section(rows: pd.DataFrame, seeds: list[int]) -> list[str]:
    lines = ["| tabular | modalities | candidates planned (skipped) | test accuracy | fit s (median, max) | chosen "
             "per seed |", "|---|---:|---:|---:|---:|---|"]
    for mode, g in rows.groupby("mode", sort=False):
        lines.append(f"| {mode} ({len(g)} of {len(seeds)} seeds) | {int(g['modalities'].iloc[0])} | "
                     f"{int(g['planned'].median())} ({int(g['skipped'].median())}) | {mean_std(g['test_accuracy'])} | "
                     f"{g['seconds'].median():.0f}, "
                     f"{g['seconds'].max():.0f} | " + ", ".join(f"{int(r.seed)}: {r.chosen}" for r in g.itertuples())
                     + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "wide")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    opening = head("A wide table: one tabular modality against a modality per column",
                   command_line("bench_wide.py", argv),
                   f"{args.rows} generated rows: 50 numeric and 10 categorical columns (the label a noisy function of "
                   "7 of them), a colour image agreeing with the label on 40% of rows, a caption naming it on 20%. "
                   "`Predictor(fusion=\"all\")` grouped (no time limit) and separate (300-s time limit); test split. "
                   "The first seed's grouped fit includes extracting the image and caption features.")
    frames = []
    for seed in args.seeds:
        for mode in ("group", "separate"):
            frames.append(run_or_load(args.state, args.rows, seed, mode))
            publish("wide", opening, section(pd.concat(frames), args.seeds), write=not args.no_write)


if __name__ == "__main__":
    main()
