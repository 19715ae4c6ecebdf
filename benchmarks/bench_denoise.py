"""Denoising pre-training (`denoise=`, predict/denoise.py): accuracy under noisy inputs, with and without.

Per data set, seed and setting, one `Predictor(fusion="concat", classical="none", baselines=False,
ensemble=False)` on the data set's frozen pretrained encoders, so the figure is the neural candidate's own. Then
the saved model predicts the test rows with Gaussian noise added to every cached column's features, at several
levels (in standard deviations of each feature over the training rows; 0 is the clean test set). The noise is
seeded and the same for both settings. Reported: test accuracy at each level, mean ± std over seeds, and the
difference paired by seed. Only feature noise is measured: corrupted images or audio would reach the frozen
encoders' features as some other, unknown noise.

    python benchmarks/bench_denoise.py [--data digits openmoji] [--seeds 0 1 2] [--noise 0.5]
        [--levels 0 0.5 1 2]

Resumable: each finished (data set, setting, seed) is saved atomically under `--state`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from bench_accuracy import SETUPS
from bench_baselines import table_for
from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.data.table import read_table
from polymodal.encoders.materialize import is_cached
from polymodal.paths import home
from polymodal.tasks import encode_targets
from polymodal.training.loop import predict_logits


def noisy_accuracy(p: Predictor, table: Path, levels: list[float], seed: int) -> dict[str, float]:
    df = pd.read_parquet(table)
    part = {k: read_table(df[df["split"] == k], base_dir=table.parent) for k in ("train", "test")}  # media paths
    _, train = p._inputs(part["train"])
    _, test = p._inputs(part["test"])
    targets = encode_targets(p.task_, df[df["split"] == "test"].reset_index(drop=True))
    cached = [c for c in p.columns_ if is_cached(p.encoders_[c])]
    out = {}
    for level in levels:
        g = torch.Generator().manual_seed(1000 + seed)
        inputs = dict(test.inputs)
        for c in cached:
            std = train.inputs[c].float()[train.masks[c]].std(0)
            inputs[c] = test.inputs[c].float() + level * std * torch.randn(test.inputs[c].shape, generator=g)
        logits = predict_logits(p.model_, type(test)(inputs, test.masks))
        out[f"acc@{level:g}"] = float((logits.argmax(1) == targets).float().mean())
    return out


def run(name: str, noise: float, seed: int, levels: list[float]) -> dict:
    s = SETUPS[name]
    p = Predictor(s["label"], fusion="concat", encoders=s["encoders"], overrides=s.get("overrides"), seed=seed,
                  classical="none", baselines=False, ensemble=False, denoise=noise, progress=False)
    started = time.time()
    table = table_for(name, 1.0, seed)
    p.fit(table)
    seconds = round(time.time() - started, 1)
    return {"data": name, "denoise": noise, "seed": seed, **noisy_accuracy(p, table, levels, seed),
            "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "denoise")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for name in args.data:
        for seed in args.seeds:
            for noise in (0.0, args.noise):
                rows.append(stored(args.state / f"{name}-denoise{noise:g}-seed{seed}.csv",
                                   lambda n=name, z=noise, s=seed: pd.DataFrame([run(n, z, s, args.levels)]),
                                   lambda df: f"{df['data'].iloc[0]} denoise {df['denoise'].iloc[0]:g} seed "
                                              f"{df['seed'].iloc[0]}: " + ", ".join(
                                       f"{c} {df[c].iloc[0]:.3f}" for c in df.columns if c.startswith("acc@"))))
    rows = pd.concat(rows, ignore_index=True)
    levels = [c for c in rows.columns if c.startswith("acc@")]
    body = ["| data set | denoise | " + " | ".join(f"accuracy, noise {c[4:]} sd" for c in levels) + " | fit s |",
            "|---|---:|" + "---:|" * len(levels) + "---:|"]
    for name, group in rows.groupby("data", sort=False):
        base = group[group["denoise"] == 0].set_index("seed")
        for noise, g in group.groupby("denoise", sort=False):
            g = g.set_index("seed")
            cells = []
            for c in levels:
                diff = g[c] - base.loc[g.index, c]
                cells.append(mean_std(g[c]) + ("" if noise == 0 else f" ({diff.mean():+.3f})"))
            body.append(f"| {name} | {noise:g} | " + " | ".join(cells) + f" | {g['seconds'].median():.0f} |")
    opening = head("Denoising pre-training: accuracy under noisy features", command_line("bench_denoise.py", argv),
                   f"concat on the frozen features, {len(args.seeds)} seeds (mean ± std; in brackets the mean "
                   "difference from no denoising, paired by seed). Noise: Gaussian, added to every cached column's "
                   "test features, in standard deviations of each feature over the training rows.")
    publish("denoise", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
