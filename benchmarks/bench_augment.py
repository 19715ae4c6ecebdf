"""Augmentation while training (`augment=`), with and without, at 10% of the training rows.

Two setups per data set, each a `Predictor(fusion="concat", classical="none", baselines=False)` so that the
figure is the neural candidate's own (the classical candidates do not train by gradient and are not
augmented):
- `frozen`: the data set's frozen pretrained encoders (features cached): mixup on the features, and the
  image and text transforms as cached views (4 augmented copies of each training and validation input,
  encoded once; each epoch a row reads its plain features or one of its views);
- `cnn` (digits only, `--setups frozen cnn`): the image read by the scratch `cnn` encoder, so the image
  transforms reach it (no flip: a mirrored digit is another shape).
The training rows are `bench_baselines.py`'s seeded, stratified 10%; validation and test rows are the same
in every run. Reported on the test split, mean ± std over seeds, with the difference paired by seed.

    python benchmarks/bench_augment.py [--data digits openmoji] [--seeds 0 1 2] [--fraction 0.1]

Resumable: each finished (data set, setup, augmentation, seed) is saved atomically under `--state`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench_accuracy import SETUPS
from bench_baselines import table_for
from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.paths import home

IMAGE = "crop+jitter+rotate"  # no flip for digits: a mirrored digit is another shape
VIEWED = {"digits": f"image={IMAGE}", "openmoji": "image=flip+crop+jitter+rotate,text=dropout+swap"}
PLANS = {  # setup -> (encoder overrides, data set -> the augmentations compared)
    "frozen": ({}, {name: ["none", "mixup=0.2", spec, f"mixup=0.2,{spec}"] for name, spec in VIEWED.items()}),
    "cnn": ({"image": "cnn"}, {"digits": ["none", f"image={IMAGE}", f"mixup=0.2,image={IMAGE}"]}),
}


def run(name: str, setup: str, spec: str, seed: int, fraction: float) -> dict:
    s = SETUPS[name]
    encoders = {**s["encoders"], **PLANS[setup][0]}
    p = Predictor(s["label"], fusion="concat", encoders=encoders, overrides=s.get("overrides"), seed=seed,
                  classical="none", baselines=False, ensemble=False, augment=None if spec == "none" else spec,
                  progress=False)
    started = time.time()
    p.fit(table_for(name, fraction, seed))
    return {"data": name, "setup": setup, "augment": spec, "seed": seed, "train_rows": p.split_sizes_["train"],
            "test_accuracy": p.best_.test["accuracy"], "test_f1_macro": p.best_.test["f1_macro"],
            "best_epoch": p.best_.best_epoch, "seconds": round(time.time() - started, 1)}


def state_file(state: Path, name: str, setup: str, spec: str, seed: int, fraction: float) -> Path:
    slug = spec.replace("=", "-").replace(",", "_").replace("+", "-")
    return state / f"{name}-{setup}-{slug}-frac{fraction:g}-seed{seed}.csv"


def run_or_load(state: Path, name: str, setup: str, spec: str, seed: int, fraction: float) -> pd.DataFrame:
    return stored(state_file(state, name, setup, spec, seed, fraction),
                  lambda: pd.DataFrame([run(name, setup, spec, seed, fraction)]),
                  lambda df: f"{name} {setup} {spec} seed {seed}: {df['test_accuracy'].iloc[0]:.3f}")


def section(rows: pd.DataFrame, seeds: list[int]) -> list[str]:
    lines = ["| data set | encoders | augmentation | accuracy | macro F1 | against none (paired) | fit s |",
             "|---|---|---|---:|---:|---:|---:|"]
    for (name, setup), group in rows.groupby(["data", "setup"], sort=False):
        base = group[group["augment"] == "none"].set_index("seed")
        for spec, g in group.groupby("augment", sort=False):
            g = g.set_index("seed")
            common = g.index.intersection(base.index)
            diff = g.loc[common, "test_accuracy"] - base.loc[common, "test_accuracy"]
            shown = "" if spec == "none" else f"{diff.mean():+.3f} ± {np.nan_to_num(diff.std()):.3f}"
            partial = "" if len(g) == len(seeds) else f" ({len(g)} of {len(seeds)} seeds)"
            lines.append(f"| {name}{partial} | {setup} | `{spec}` | {mean_std(g['test_accuracy'])} | "
                         f"{mean_std(g['test_f1_macro'])} | {shown} | {g['seconds'].median():.0f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji"], choices=list(SETUPS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--setups", nargs="+", default=["frozen"], choices=list(PLANS))
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "augment")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--finished-only", action="store_true",
                        help="write the section from the fits already finished under --state; fit nothing")
    args = parser.parse_args(argv)
    opening = head("Augmentation while training", command_line("bench_augment.py", argv),
                   f"Test split, mean ± std over seeds, at {args.fraction:.0%} of the training rows. "
                   "`Predictor(fusion=\"concat\", classical=\"none\", baselines=False, ensemble=False)`: the neural "
                   "candidate alone, since the classical candidates are not trained by gradient and are not "
                   "augmented. `frozen`: the data set's cached pretrained encoders; mixup mixes their features, the "
                   "image and text transforms reach them as 4 cached views per input. `cnn`: the image read by "
                   "the scratch CNN, so the image transforms reach it each epoch.")
    frames = []
    for name in args.data:
        for setup in args.setups:
            for spec in PLANS[setup][1].get(name, []):
                for seed in args.seeds:
                    done = state_file(args.state, name, setup, spec, seed, args.fraction).exists()
                    if args.finished_only and not done:
                        continue
                    frames.append(run_or_load(args.state, name, setup, spec, seed, args.fraction))
        if not frames:
            continue
        publish("augment", opening, section(pd.concat(frames), args.seeds), write=not args.no_write)


if __name__ == "__main__":
    main()
