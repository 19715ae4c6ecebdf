"""Rare classes: `--imbalance none|weighted|focal|sampler|smote` on a skewed `digits`.

The training rows of digits 0-4 are cut to 5% (seeded; about 17 rows each against 350 for 5-9), the
validation and test rows are left as they are, so the test split weighs every digit alike. One
`Predictor(fusion="concat")` (frozen cached encoders, the classical candidates and ensemble selection) per
option and seed. Reported on the test split: macro-F1, the recall of the rare classes (mean over 0-4), and
the accuracy, mean ± std over seeds.

    python benchmarks/bench_imbalance.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench_accuracy import SETUPS, save
from common import load_average, machine, write_section
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


def run(option: str, seed: int) -> dict:
    s = SETUPS["digits"]
    p = Predictor(s["label"], fusion="concat", encoders=s["encoders"], imbalance=option, seed=seed, progress=False)
    p.fit(skewed(seed))
    test = p.best_.test
    per_class = {str(k): v for k, v in test["per_class"].items()}
    recall = np.mean([per_class[c]["recall"] for c in RARE])
    return {"option": option, "seed": seed, "f1_macro": test["f1_macro"], "rare_recall": float(recall),
            "accuracy": test["accuracy"], "chosen": p.best_.name}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "imbalance")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    command = f"python benchmarks/bench_imbalance.py {shlex.join(argv if argv is not None else sys.argv[1:])}"
    rows = []
    for option in OPTIONS:
        for seed in args.seeds:
            path = args.state / f"{option}-seed{seed}.csv"
            if not path.exists():
                save(pd.DataFrame([run(option, seed)]), path)
            rows.append(pd.read_csv(path))
            print(rows[-1].to_dict(orient="records")[0], flush=True)
    df = pd.concat(rows)
    lines = ["## Rare classes: the imbalance options on a skewed digits", "", f"Command: `{command.strip()}`", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + f"; {load_average()}.", "",
             "Digits 0-4 keep 5% of their training rows; test split, mean ± std over seeds.", "",
             "| imbalance | macro-F1 | recall of the rare digits | accuracy | saved per seed |",
             "|---|---:|---:|---:|---|"]
    for option, g in df.groupby("option", sort=False):
        lines.append(f"| {option} | {g['f1_macro'].mean():.3f} ± {np.nan_to_num(g['f1_macro'].std()):.3f} | "
                     f"{g['rare_recall'].mean():.3f} ± {np.nan_to_num(g['rare_recall'].std()):.3f} | "
                     f"{g['accuracy'].mean():.3f} | {', '.join(g['chosen'])} |")
    print("\n".join(lines))
    if not args.no_write:
        write_section("imbalance", "\n".join(lines))


if __name__ == "__main__":
    main()
