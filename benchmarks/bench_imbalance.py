"""Rare classes: `--imbalance none|weighted|focal|sampler|smote` on a skewed `digits` and on `openmoji` as it is.

digits: the training rows of digits 0-4 are cut to 5% (seeded; about 17 rows each against 350 for 5-9), the
validation and test rows are left as they are, so the test split weighs every digit alike. openmoji: its own skew
(People & Body 1,642 training rows, Activities 59); the rare classes are its four smallest in training, and every
split keeps the skew. One
`Predictor(fusion="concat")` (frozen cached encoders, the classical candidates and ensemble selection) per
option and seed. Reported on the test split: macro-F1, the recall of the rare classes (mean over them), and
the accuracy, mean ± std over seeds.

    python benchmarks/bench_imbalance.py [--data digits openmoji] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench_accuracy import SETUPS
from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.data.recipes import build
from polymodal.paths import data_home, home

OPTIONS = ("none", "weighted", "focal", "sampler", "smote")
RARE = [str(d) for d in range(5)]


def skewed(seed: int) -> Path:
    path = build("digits", data_home() / "digits")
    df = pd.read_parquet(path)
    label = SETUPS["digits"]["label"]
    rare = (df["split"] == "train") & df[label].astype(str).isin(RARE)
    keep = df[rare].groupby(label, group_keys=False).sample(frac=0.05, random_state=seed).index
    out = path.with_name(f"table-skewed-seed{seed}.parquet")
    df.drop(index=df[rare].index.difference(keep)).to_parquet(out, index=False)
    return out


def natural(name: str) -> tuple[Path, list[str]]:
    """The recipe's table as it is, and its four smallest classes in training."""
    path = build(name, data_home() / name)
    df = pd.read_parquet(path)
    counts = df[df["split"] == "train"][SETUPS[name]["label"]].astype(str).value_counts()
    return path, list(counts.index[-4:])


def run(name: str, option: str, seed: int) -> dict:
    s = SETUPS[name]
    table, rare = (skewed(seed), RARE) if name == "digits" else natural(name)
    p = Predictor(s["label"], fusion="concat", encoders=s["encoders"], overrides=s.get("overrides"), imbalance=option,
                  seed=seed, progress=False)
    p.fit(table)
    test = p.best_.test
    per_class = {str(k): v for k, v in test["per_class"].items()}
    recall = np.mean([per_class[c]["recall"] for c in rare])
    return {"data": name, "option": option, "seed": seed, "f1_macro": test["f1_macro"], "rare_recall": float(recall),
            "accuracy": test["accuracy"], "chosen": p.best_.name}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "imbalance")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for name in args.data:
        for option in OPTIONS:
            for seed in args.seeds:
                prefix = "" if name == "digits" else f"{name}-"  # digits' states predate the openmoji ones
                rows.append(stored(args.state / f"{prefix}{option}-seed{seed}.csv",
                                   lambda n=name, o=option, s=seed: pd.DataFrame([run(n, o, s)]),
                                   lambda df: str(df.to_dict(orient="records")[0])).assign(data=name))
    df = pd.concat(rows)
    body = ["| data set | imbalance | macro-F1 | recall of the rare classes | accuracy | saved per seed |",
            "|---|---|---:|---:|---:|---|"]
    for (name, option), g in df.groupby(["data", "option"], sort=False):
        body.append(f"| {name} | {option} | {mean_std(g['f1_macro'])} | {mean_std(g['rare_recall'])} | "
                    f"{g['accuracy'].mean():.3f} | {', '.join(g['chosen'])} |")
    opening = head("Rare classes: the imbalance options on a skewed digits and on openmoji",
                   command_line("bench_imbalance.py", argv),
                   "digits: 0-4 keep 5% of their training rows (rare: 0-4); openmoji as it is (rare: its four smallest "
                   "groups in training); test split, mean ± std over seeds.")
    publish("imbalance", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
