"""Accuracy of every fusion and each modality alone on the built recipes, mean ± std over seeds.

`digits` uses the recipe's AV-MNIST-style difficulty (70% of image energy removed, audio at 5 dB
SNR, a held-out accent in test); `openmoji` predicts the Unicode group from the artwork, the name
and the spoken name. Encoders are the frozen pretrained defaults (features cached once).

    python benchmarks/bench_accuracy.py [--seeds 0 1 2] [--data digits openmoji] [--epochs 40]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import numpy as np
import pandas as pd

from common import load_average, machine, write_section
from polymodal import Predictor
from polymodal.data.recipes import build
from polymodal.paths import data_home

SETUPS = {
    "digits": {"label": "label", "encoders": {"image": "efficientnet-lite0", "audio": "mfcc"}},
    "openmoji": {"label": "group", "encoders": {"image": "efficientnet-lite0", "text": "minilm", "audio": "mfcc"},
                 "overrides": {"subgroup": "ignore"}},
}


def run(name: str, seed: int, epochs: int) -> pd.DataFrame:
    table = build(name, data_home() / name)
    setup = SETUPS[name]
    p = Predictor(setup["label"], fusion="all", encoders=setup["encoders"], overrides=setup.get("overrides"),
                  epochs=epochs, seed=seed, progress=False)
    p.fit(table)
    df = p.comparison_[["name", "kind", "test_accuracy", "test_f1_macro", "seconds"]].copy()
    df["seed"] = seed
    return df


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    g = rows.groupby(["name", "kind"], sort=False)
    out = g.agg(acc_mean=("test_accuracy", "mean"), acc_std=("test_accuracy", "std"),
                f1_mean=("test_f1_macro", "mean"), f1_std=("test_f1_macro", "std"),
                seconds=("seconds", "median")).reset_index()
    return out.sort_values("acc_mean", ascending=False)


def markdown(name: str, table: pd.DataFrame, seeds: list[int]) -> list[str]:
    lines = [f"### {name}", "", f"Test split, {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
             "seconds = median training time of the candidate.", "",
             "| model | kind | accuracy | macro F1 | train s |", "|---|---|---:|---:|---:|"]
    for r in table.itertuples():
        lines.append(f"| {r.name} | {r.kind} | {r.acc_mean:.3f} ± {np.nan_to_num(r.acc_std):.3f} | "
                     f"{r.f1_mean:.3f} ± {np.nan_to_num(r.f1_std):.3f} | {r.seconds:.1f} |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    started = time.time()
    lines = ["## Accuracy of every fusion against each modality alone", "",
             f"Command: `python benchmarks/bench_accuracy.py {shlex.join(argv if argv is not None else sys.argv[1:])}`",
             "", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + f"; {load_average()}.", ""]
    for name in args.data:
        rows = pd.concat([run(name, seed, args.epochs) for seed in args.seeds])
        table = summarise(rows)
        print(table.to_string(index=False), flush=True)
        lines += markdown(name, table, args.seeds)
    lines.append(f"Whole benchmark: {time.time() - started:.0f} s.")
    if not args.no_write:
        print("written to", write_section("accuracy", "\n".join(lines)))


if __name__ == "__main__":
    main()
