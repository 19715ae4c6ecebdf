"""Contrastive pre-training on unlabeled rows (`pretrain=True`) in a low-label regime, with and without.

The tables of bench_unlabeled.py: a seeded, stratified `--labelled` share (default 10%) of the training rows keeps
its label, the rest of the training rows have it emptied. `Predictor(fusion=FUSION, classical="none",
baselines=False, ensemble=False)`, the neural candidate alone (pre-training changes only what the neural
candidates start from), fitted with `pretrain=False` and `pretrain=True` (a front per cached column trained to
bring a row's modalities together on the labelled and unlabeled training rows; predict/pretrain.py). Test split,
mean ± std over seeds, the difference paired by seed.

    python benchmarks/bench_pretrain.py [--data digits openmoji icons] [--seeds 0 1 2] [--fusion concat]

Resumable: each finished (data set, fusion, seed, setting) is saved atomically under `--state`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench_accuracy import SETUPS
from bench_unlabeled import table_for
from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.paths import home


def run(name: str, labelled: float, seed: int, pretrain: bool, fusion: str) -> pd.DataFrame:
    s = SETUPS[name]
    p = Predictor(s["label"], fusion=fusion, encoders=s["encoders"], overrides=s.get("overrides"), seed=seed,
                  classical="none", baselines=False, ensemble=False, pretrain=pretrain, progress=False)
    started = time.time()
    p.fit(table_for(name, labelled, seed))
    info = p.pretrain_info_ or {}
    return pd.DataFrame([{"data": name, "fusion": fusion, "seed": seed, "pretrain": pretrain,
                          "labelled_rows": p.split_sizes_["train"], "unlabeled_rows": info.get("unlabeled_rows", 0),
                          "epochs": info.get("epochs", 0), "val_loss_start": info.get("val_loss_start"),
                          "val_loss_end": info.get("val_loss_end"), "test_accuracy": p.best_.test["accuracy"],
                          "test_f1_macro": p.best_.test["f1_macro"], "seconds": round(time.time() - started, 1)}])


def section(rows: pd.DataFrame) -> list[str]:
    lines = ["| data set | fusion | labelled / unlabeled rows | without | with pre-training | difference | "
             "pre-training epochs | validation InfoNCE (start -> end) | fit s (without / with) |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for (name, fusion), group in rows.groupby(["data", "fusion"], sort=False):
        paired = group[~group["pretrain"]].merge(group[group["pretrain"]], on="seed", suffixes=("_0", "_1"))
        if not len(paired):
            continue
        diff = paired["test_accuracy_1"] - paired["test_accuracy_0"]
        lines.append(f"| {name} | {fusion} | {int(paired['labelled_rows_1'].median())} / "
                     f"{int(paired['unlabeled_rows_1'].median())} | {mean_std(paired['test_accuracy_0'])} | "
                     f"{mean_std(paired['test_accuracy_1'])} | {diff.mean():+.3f} ± {np.nan_to_num(diff.std()):.3f} | "
                     f"{paired['epochs_1'].median():.0f} | {paired['val_loss_start_1'].mean():.2f} -> "
                     f"{paired['val_loss_end_1'].mean():.2f} | {paired['seconds_0'].median():.0f} / "
                     f"{paired['seconds_1'].median():.0f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji", "icons"], choices=list(SETUPS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labelled", type=float, default=0.1)
    parser.add_argument("--fusion", nargs="+", default=["concat"])
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "pretrain")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    frames = []
    for name in args.data:
        for fusion in args.fusion:
            for seed in args.seeds:
                for pretrain in (False, True):
                    key = f"{name}-{fusion}-labelled{args.labelled:g}-seed{seed}-pretrain{int(pretrain)}"
                    frames.append(stored(
                        args.state / f"{key}.csv",
                        lambda n=name, f=fusion, s=seed, pt=pretrain: run(n, args.labelled, s, pt, f),
                        lambda df: f"{df['data'].iloc[0]} {df['fusion'].iloc[0]} seed {df['seed'].iloc[0]} pretrain "
                                   f"{df['pretrain'].iloc[0]}: {df['test_accuracy'].iloc[0]:.3f}"))
    opening = head("Contrastive pre-training on unlabeled rows", command_line("bench_pretrain.py", argv),
                   f"Test split, mean ± std over seeds, at {args.labelled:.0%} of the training labels (the rest of "
                   "the training rows unlabeled). The neural candidate alone (`classical=\"none\"`, no baselines, no "
                   "ensemble), without and with `pretrain=True`; the difference paired by seed.")
    publish("pretrain", opening, section(pd.concat(frames, ignore_index=True)), write=not args.no_write)


if __name__ == "__main__":
    main()
