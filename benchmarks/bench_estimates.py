"""How honest is the figure a report gives? `openmoji` (predict the Unicode group) with its split column
removed from the training rows, as most users' tables come: the figure the report states against the
accuracy on the recipe's own test rows, which the fit never sees.

- before: what polymodal did until now on such a table, an 80/20 train/validation split whose
  validation rows also chose the epochs and the fusion, reported as if held out;
- after: today's default, `estimate="auto"` (70/15/15 from 1,000 rows, else 5-fold cross-validation of
  the whole selection), on the full training rows and on a 600-row sample of them.

    python benchmarks/bench_estimates.py [--seeds 0 1 2] [--fusion concat,gated] [--epochs 30]

The error is reported minus true: positive means the report flattered the model.
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
from polymodal.data.splits import cut
from polymodal.paths import data_home

ENCODERS = {"image": "efficientnet-lite0", "text": "minilm", "audio": "mfcc"}


def fit_and_check(rows: pd.DataFrame, test: pd.DataFrame, seed: int, how: str, args) -> dict:
    """Fit on `rows` (no split column, or the old 80/20 one), return the reported and the true accuracy."""
    if how == "before":
        _, val = cut(np.arange(len(rows)), 0.2, rows["group"].astype(str).to_numpy(), seed)
        rows = rows.assign(split="train")
        rows.loc[rows.index[val], "split"] = "val"
    started = time.time()
    p = Predictor("group", fusion=args.fusion, encoders=ENCODERS, overrides={"subgroup": "ignore"},
                  epochs=args.epochs, seed=seed, progress=False)
    p.fit(rows)
    reported = p.cv_["mean"]["accuracy"] if p.estimate_kind_ == "cv" else (p.best_.test or p.best_.val)["accuracy"]
    true = p.evaluate(test)["accuracy"]
    return {"how": how, "rows": len(rows), "seed": seed, "estimate": p.estimate_kind_, "reported": reported,
            "true": true, "error": reported - true, "seconds": round(time.time() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fusion", default="concat,gated")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--sample", type=int, default=600, help="rows of the small-table case")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    path = build("openmoji", data_home() / "openmoji")
    table, folder = pd.read_parquet(path), path.parent
    for column in ("image", "audio"):  # absolute paths: the fits read DataFrames, not the recipe's folder
        table[column] = [str(folder / v) if isinstance(v, str) and v else v for v in table[column]]
    test = table[table["split"] == "test"].drop(columns="split").reset_index(drop=True)
    train = table[table["split"] != "test"].drop(columns="split").reset_index(drop=True)
    results = []
    for seed in args.seeds:
        small = train.sample(n=min(args.sample, len(train)), random_state=seed).reset_index(drop=True)
        for rows in (train, small):
            for how in ("before", "after"):
                results.append(fit_and_check(rows, test, seed, how, args))
                print(results[-1], flush=True)
    df = pd.DataFrame(results)
    summary = (df.groupby(["rows", "how", "estimate"], sort=False)
               .agg(reported=("reported", "mean"), true=("true", "mean"), error=("error", "mean"),
                    error_std=("error", "std"), abs_error=("error", lambda e: e.abs().mean()),
                    seconds=("seconds", "mean")).reset_index())
    print(summary.to_string(index=False))
    if args.no_write:
        return
    m = machine()
    lines = ["## Honest estimates: the reported figure against accuracy on rows never seen", "",
             f"Command: `python benchmarks/{' '.join(shlex.quote(a) for a in sys.argv)}` "
             f"({len(args.seeds)} seeds, fusion {args.fusion}, {args.epochs} epochs; {m['cpu']}, {m['cores']} cores, "
             f"torch {m['torch']}; {load_average()} at the end).", "",
             f"`openmoji` (label `group`): the recipe's {len(train)} train+val rows without their split column "
             f"(or a {args.sample}-row sample of them) are the user's table; its {len(test)} test rows are the "
             "truth, never seen by any fit. *before*: the old default, an 80/20 train/validation split whose "
             "validation rows chose the epochs and the fusion, then reported; *after*: `estimate=\"auto\"`. "
             "error = reported - true accuracy (positive: the report flattered the model), mean over seeds.", "",
             "| rows | how | estimate | reported | true | error (mean ± std) | mean abs error | fit s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples(index=False):
        lines.append(f"| {r.rows} | {r.how} | {r.estimate} | {r.reported:.4f} | {r.true:.4f} | "
                     f"{r.error:+.4f} ± {0 if np.isnan(r.error_std) else r.error_std:.4f} | {r.abs_error:.4f} | "
                     f"{r.seconds:.0f} |")
    write_section("estimates", "\n".join(lines))


if __name__ == "__main__":
    main()
