"""Clip features: the frozen `efficientnet-lite0-frames` (cached) against the scratch `video-cnn`.

On the `shapes` recipe (2,000 rows by default), the clip column alone predicts the motion (left, right, up,
down) and the shape. One `Predictor(fusion="concat", classical="none", baselines=False)` per (label,
encoder, seed): every other column ignored, so the figure is the clip encoder's. Reported on the test
split: accuracy (mean ± std over seeds), the candidate's training seconds (median), and the fit's seconds
(median; the frame features are extracted once, by the first seed, and read from the cache after).

    python benchmarks/bench_video.py [--size 2000] [--seeds 0 1 2] [--labels motion shape]

Resumable: each finished (label, encoder, seed) is saved atomically under `--state`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import command_line, head, publish, stored
from polymodal import Predictor
from polymodal.data.recipes import build
from polymodal.paths import data_home, home

ENCODERS = ("efficientnet-lite0-frames", "video-cnn")
OTHERS = ("id", "image", "audio", "caption", "video_caption", "shape", "color", "size", "position", "count",
          "motion")


def run(size: int, label: str, encoder: str, seed: int) -> dict:
    table = build("shapes", data_home() / f"shapes-{size}", size=size)
    overrides = {c: "ignore" for c in OTHERS if c != label}
    p = Predictor(label, fusion="concat", encoders={"video": encoder}, overrides=overrides, classical="none",
                  baselines=False, ensemble=False, seed=seed, progress=False)
    started = time.time()
    p.fit(table)
    return {"label": label, "encoder": encoder, "seed": seed, "test_accuracy": p.best_.test["accuracy"],
            "train_seconds": round(p.best_.seconds, 1), "fit_seconds": round(time.time() - started, 1),
            "epochs": p.best_.best_epoch + 1}


def state_file(state: Path, size: int, label: str, encoder: str, seed: int) -> Path:
    return state / f"shapes{size}-{label}-{encoder}-seed{seed}.csv"


def run_or_load(state: Path, size: int, label: str, encoder: str, seed: int) -> pd.DataFrame:
    return stored(state_file(state, size, label, encoder, seed),
                  lambda: pd.DataFrame([run(size, label, encoder, seed)]),
                  lambda df: f"{label} {encoder} seed {seed}: {df['test_accuracy'].iloc[0]:.3f} in "
                             f"{df['fit_seconds'].iloc[0]:.0f} s")


def section(rows: pd.DataFrame, seeds: list[int]) -> list[str]:
    lines = ["| label | clip encoder | test accuracy | training s (median) | fit s (median) | seeds |",
             "|---|---|---:|---:|---:|---:|"]
    for (label, encoder), g in rows.groupby(["label", "encoder"], sort=False):
        lines.append(f"| {label} | `{encoder}` | {g['test_accuracy'].mean():.3f} ± "
                     f"{np.nan_to_num(g['test_accuracy'].std()):.3f} | {g['train_seconds'].median():.0f} | "
                     f"{g['fit_seconds'].median():.0f} | {len(g)} of {len(seeds)} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labels", nargs="+", default=["motion", "shape"])
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=list(ENCODERS))
    parser.add_argument("--finished-only", action="store_true",
                        help="write the section from the fits already finished under --state; fit nothing")
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "video")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    opening = head("Clip features: frozen frames against the scratch video CNN", command_line("bench_video.py", argv),
                   f"`shapes` ({args.size} rows), the clip column alone (every other column ignored), `Predictor("
                   "fusion=\"concat\", classical=\"none\", baselines=False)`; test split, mean ± std over seeds. "
                   "`efficientnet-lite0-frames`: frozen, 4 frames at 112 px, the mean, max and change of the "
                   "per-frame features and the shift of each channel's centre of activation, cached (the first "
                   "seed's fit includes extracting them); `video-cnn`: the scratch 3-D CNN, trained inside the fit.")
    frames = []
    for label in args.labels:
        for encoder in args.encoders:
            for seed in args.seeds:
                done = state_file(args.state, args.size, label, encoder, seed).exists()
                if args.finished_only and not done:
                    continue
                frames.append(run_or_load(args.state, args.size, label, encoder, seed))
            if not frames:
                continue
            publish("video", opening, section(pd.concat(frames), args.seeds), write=not args.no_write)


if __name__ == "__main__":
    main()
