"""k-fold bagging (`bag_folds`) against one fit per candidate, on the classical candidates, real data sets.

For each data set, fraction of the training rows and seed: `Predictor(fusion="none")` (the linear probe,
LightGBM and kNN, with ensemble selection) fitted once with a single train/validation split, and once with
`bag_folds=K`, where each candidate is fitted K times over K folds of the pooled training and validation
rows and chosen on its out-of-fold predictions. Reported on the test split, which neither touches: the saved
model of each and every candidate, mean ± std over seeds, and the fit's seconds. The 10% rows are
`bench_baselines.py`'s seeded, stratified subsets; validation and test rows are the same in every run.

    python benchmarks/bench_bagging.py [--data digits openmoji icons] [--seeds 0 1 2] [--fractions 1 0.1] [--k 5]

Resumable: each finished (data set, fraction, seed, K) is saved atomically under `--state` and read back.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from bench_accuracy import SAVED, SETUPS
from bench_baselines import table_for
from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.paths import home


def run(name: str, fraction: float, seed: int, bag_folds: int) -> pd.DataFrame:
    s = SETUPS[name]
    p = Predictor(s["label"], fusion="none", encoders=s["encoders"], overrides=s.get("overrides"), seed=seed,
                  bag_folds=bag_folds, progress=False)
    started = time.time()
    p.fit(table_for(name, fraction, seed))
    seconds = time.time() - started
    df = p.comparison_[["name", "kind", "test_accuracy", "test_f1_macro", "seconds"]].copy()
    saved = df[df["name"] == p.best_.name].assign(name=SAVED, kind="saved", chosen=p.best_.name, seconds=seconds)
    return pd.concat([df, saved], ignore_index=True).assign(seed=seed, fraction=fraction, bag_folds=bag_folds,
                                                            train_rows=p.split_sizes_["train"])


def run_or_load(state: Path, name: str, fraction: float, seed: int, bag_folds: int) -> pd.DataFrame:
    return stored(state / f"{name}-frac{fraction:g}-seed{seed}-bag{bag_folds}.csv",
                  lambda: run(name, fraction, seed, bag_folds),
                  lambda df: f"{name} {fraction:g} seed {seed} bag {bag_folds}: saved model "
                             f"{df.loc[df['name'] == SAVED, 'test_accuracy'].iloc[0]:.3f}")


def section(rows: pd.DataFrame, k: int, seeds: list[int]) -> list[str]:
    lines = ["| data set | training rows | one fit: saved model | fit s | "
             f"{k}-fold bag: saved model | fit s | difference |", "|---|---:|---:|---:|---:|---:|---:|"]
    detail = []
    for (name, fraction), group in rows.groupby(["data", "fraction"], sort=False):
        saved = group[group["name"] == SAVED]
        by = {b: saved[saved["bag_folds"] == b] for b in (0, k)}
        if not all(len(v) for v in by.values()):
            continue
        paired = by[0].merge(by[k], on="seed", suffixes=("_one", "_bag"))
        diff = paired["test_accuracy_bag"] - paired["test_accuracy_one"]
        n = len(paired)
        partial = "" if n == len(seeds) else f" ({n} of {len(seeds)} seeds)"
        lines.append(f"| {name}{partial} | {int(group['train_rows'].median())} ({fraction:.0%}) | "
                     f"{mean_std(paired['test_accuracy_one'])} | {paired['seconds_one'].median():.0f} | "
                     f"{mean_std(paired['test_accuracy_bag'])} | {paired['seconds_bag'].median():.0f} | "
                     f"{diff.mean():+.3f} ± {diff.std(ddof=1) if n > 1 else 0:.3f} |")
        cands = group[group["kind"] != "saved"].groupby(["name", "bag_folds"])["test_accuracy"].agg(["mean", "std"])
        cells = [f"{c} {cands.loc[(c, 0), 'mean']:.3f} → {cands.loc[(c, k), 'mean']:.3f}"
                 for c in cands.index.get_level_values(0).unique() if (c, 0) in cands.index and (c, k) in cands.index]
        detail.append(f"- {name}, {fraction:.0%}: " + "; ".join(cells))
    return [*lines, "", "Each candidate's mean test accuracy, one fit → bagged:", "", *detail]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji", "icons"], choices=list(SETUPS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "bagging")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    opening = head("k-fold bagging of the classical candidates", command_line("bench_bagging.py", argv),
                   "Test split, mean ± std over seeds; the difference is paired by seed. `Predictor(fusion=\"none\")`: "
                   "the linear probe, LightGBM and kNN with ensemble selection, fitted once on a train/validation "
                   f"split, or each fitted {args.k} times over {args.k} folds of the pooled training and validation "
                   "rows and chosen on out-of-fold predictions. Fit seconds are whole fits (the cached features are "
                   "read, not extracted), medians over seeds.")
    frames = []
    for fraction in args.fractions:
        for name in args.data:
            for seed in args.seeds:
                for bag_folds in (0, args.k):
                    frames.append(run_or_load(args.state, name, fraction, seed, bag_folds).assign(data=name))
            publish("bagging", opening, section(pd.concat(frames), args.k, args.seeds), write=not args.no_write)


if __name__ == "__main__":
    main()
