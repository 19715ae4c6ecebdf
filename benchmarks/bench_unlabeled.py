"""Unlabeled rows in a low-label regime: `unlabeled="ignore"` against `unlabeled="use"` (self-training).

For each data set and seed, a seeded, stratified `--labelled` share (default 10%) of the training rows keeps
its label and the rest of the training rows have their label emptied; validation and test rows keep theirs.
The same `Predictor` is fitted twice: once setting the unlabeled rows aside, once pseudo-labelling them
(predict/unlabeled.py). Reported on the test split, which neither touches: the saved model, how many rows
were pseudo-labelled, and which round was saved, mean ± std over seeds, with the difference paired by seed.

    python benchmarks/bench_unlabeled.py [--data digits openmoji icons] [--seeds 0 1 2] [--labelled 0.1]
                                         [--fusion none]

Resumable: each finished (data set, seed, policy) is saved atomically under `--state` and read back.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench_accuracy import SETUPS
from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.data.recipes import build
from polymodal.paths import data_home, home


def table_for(name: str, labelled: float, seed: int) -> Path:
    """The recipe's table with all but a seeded, stratified `labelled` share of the training labels emptied
    (written beside it, so relative media paths stay valid)."""
    path = build(name, data_home() / name)
    df = pd.read_parquet(path)
    label = SETUPS[name]["label"]
    train = df[df["split"] == "train"]
    kept = train.groupby(label, group_keys=False).sample(frac=labelled, random_state=seed).index
    df.loc[train.index.difference(kept), label] = None
    out = path.with_name(f"table-labelled{labelled:g}-seed{seed}.parquet")
    df.to_parquet(out, index=False)
    return out


def run(name: str, labelled: float, seed: int, policy: str, fusion: str) -> dict:
    s = SETUPS[name]
    p = Predictor(s["label"], fusion=fusion, encoders=s["encoders"], overrides=s.get("overrides"), seed=seed,
                  unlabeled=policy, baselines=False, progress=False)
    started = time.time()
    p.fit(table_for(name, labelled, seed))
    info = p.unlabeled_
    return {"data": name, "seed": seed, "policy": policy, "labelled_rows": p.split_sizes_["train"],
            "unlabeled_rows": info.get("rows", 0), "pseudo_labelled": info.get("pseudo_labelled", 0),
            "cut": info.get("confidence"), "round": info.get("chosen_round", 1), "chosen": p.best_.name,
            "test_accuracy": p.best_.test["accuracy"], "test_f1_macro": p.best_.test["f1_macro"],
            "seconds": round(time.time() - started, 1)}


def run_or_load(state: Path, name: str, labelled: float, seed: int, policy: str, fusion: str) -> pd.DataFrame:
    return stored(state / f"{name}-labelled{labelled:g}-seed{seed}-{policy}-{fusion.replace(',', '+')}.csv",
                  lambda: pd.DataFrame([run(name, labelled, seed, policy, fusion)]),
                  lambda df: f"{name} seed {seed} {policy}: {df['test_accuracy'].iloc[0]:.3f} ({df['chosen'].iloc[0]})")


def section(rows: pd.DataFrame, seeds: list[int]) -> list[str]:
    lines = ["| data set | labelled / unlabeled training rows | ignore: accuracy | use: accuracy | difference | "
             "pseudo-labelled rows | round saved per seed | fit s (ignore / use) |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    for name, group in rows.groupby("data", sort=False):
        paired = group[group["policy"] == "ignore"].merge(group[group["policy"] == "use"], on="seed",
                                                          suffixes=("_i", "_u"))
        if not len(paired):
            continue
        diff = paired["test_accuracy_u"] - paired["test_accuracy_i"]
        n = len(paired)
        partial = "" if n == len(seeds) else f" ({n} of {len(seeds)} seeds)"
        lines.append(f"| {name}{partial} | {int(paired['labelled_rows_u'].median())} / "
                     f"{int(paired['unlabeled_rows_u'].median())} | {mean_std(paired['test_accuracy_i'])} | "
                     f"{mean_std(paired['test_accuracy_u'])} | {diff.mean():+.3f} ± {np.nan_to_num(diff.std()):.3f} | "
                     f"{int(paired['pseudo_labelled_u'].median())} | "
                     + ", ".join(f"{int(r.seed)}: {int(r.round_u)}" for r in paired.itertuples())
                     + f" | {paired['seconds_i'].median():.0f} / {paired['seconds_u'].median():.0f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji", "icons"], choices=list(SETUPS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labelled", type=float, default=0.1)
    parser.add_argument("--fusion", default="none", help="the Predictor's fusion(s); none = classical candidates")
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "unlabeled")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    opening = head("Unlabeled rows: self-training in a low-label regime", command_line("bench_unlabeled.py", argv),
                   f"Test split, mean ± std over seeds, the difference paired by seed. {args.labelled:.0%} of the "
                   "training rows keep their label (seeded, stratified); the others are unlabeled. `Predictor(fusion="
                   f"\"{args.fusion}\", baselines=False)`, with the classical candidates and ensemble selection, "
                   "fitted with `unlabeled=\"ignore\"` and with `unlabeled=\"use\"` (the chosen model pseudo-labels "
                   "the rows it is confident on, at the probability above which 95% of its validation rows are right; "
                   "every candidate is fitted again with them, and the saved model is chosen over both rounds on "
                   "validation).")
    frames = []
    for name in args.data:
        for seed in args.seeds:
            for policy in ("ignore", "use"):
                frames.append(run_or_load(args.state, name, args.labelled, seed, policy, args.fusion))
        publish("unlabeled", opening, section(pd.concat(frames), args.seeds), write=not args.no_write)


if __name__ == "__main__":
    main()
