"""Accuracy of every fusion and each modality alone on the built recipes, mean ± std over seeds.

`digits` uses the recipe's AV-MNIST-style difficulty (70% of image energy removed, audio at 5 dB
SNR, a held-out accent in test); `openmoji` predicts the Unicode group from the artwork, the name
and the spoken name; `icons` predicts a KDE Breeze icon's theme context from the drawing and its
name. Encoders are the frozen pretrained defaults (features cached once).

    python benchmarks/bench_accuracy.py [--seeds 0 1 2] [--data digits openmoji] [--epochs 40]

After a change to some fusions, `--refresh gated` refits just those in every finished pair.

Resumable: each finished (data set, seed) is saved atomically to `--state` (default
`$POLYMODAL_HOME/benchmarks/accuracy`) and skipped by a later run with the same epochs; the section
in BENCHMARKS.md is rewritten after every finished pair, so it always says which seeds it covers.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import load_average, machine, write_section
from polymodal import Predictor
from polymodal.data.recipes import build
from polymodal.paths import data_home, home

SETUPS = {
    "digits": {"label": "label", "encoders": {"image": "efficientnet-lite0", "audio": "mfcc"}},
    "openmoji": {"label": "group", "encoders": {"image": "efficientnet-lite0", "text": "minilm", "audio": "mfcc"},
                 "overrides": {"subgroup": "ignore"}},
    "icons": {"label": "context", "encoders": {"image": "efficientnet-lite0", "name": "minilm"}},
}


def run(name: str, seed: int, epochs: int, fusion: str = "all") -> pd.DataFrame:
    table = build(name, data_home() / name)
    setup = SETUPS[name]
    p = Predictor(setup["label"], fusion=fusion, encoders=setup["encoders"], overrides=setup.get("overrides"),
                  epochs=epochs, seed=seed, progress=False, baselines=fusion == "all")
    p.fit(table)
    df = p.comparison_[["name", "kind", "test_accuracy", "test_f1_macro", "seconds"]].copy()
    # what the user gets: the candidate the fit chose on validation and saved (its test figures)
    saved = df[df["name"] == p.best_.name].assign(name=SAVED, kind="saved", chosen=p.best_.name)
    df = pd.concat([df, saved], ignore_index=True)
    df["seed"] = seed
    return df


SAVED = "**saved model**"


def result_path(state: Path, name: str, seed: int, epochs: int) -> Path:
    return state / f"{name}-seed{seed}-epochs{epochs}.csv"


def save(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)  # atomic: a pair's file is whole or absent


def run_or_load(state: Path, name: str, seed: int, epochs: int, refresh: list[str] = ()) -> pd.DataFrame:
    """One (data set, seed) pair: read back when an earlier run finished it, else train and save atomically.
    `refresh`: fusions refitted alone (same seed, epochs and data) and their rows replaced in a finished pair,
    after a change to those fusions; the rows say so in a `refreshed` column."""
    path = result_path(state, name, seed, epochs)
    if not path.exists():
        started = time.time()
        df = run(name, seed, epochs)
        df["pair_seconds"] = round(time.time() - started, 1)
        save(df, path)
        print(f"{name} seed {seed}: done in {time.time() - started:.0f} s, saved to {path}", flush=True)
        return df
    print(f"{name} seed {seed}: finished earlier, read from {path}", flush=True)
    df = pd.read_csv(path)
    for fusion in refresh:
        new = run(name, seed, epochs, fusion)
        new = new[new["name"] == fusion].assign(refreshed=time.strftime("%Y-%m-%d"))
        if new.empty:
            raise SystemExit(f"--refresh {fusion}: the fit has no candidate of that name")
        df = pd.concat([df[df["name"] != fusion], new], ignore_index=True)
        df["pair_seconds"] = df["pair_seconds"].max()
        save(df, path)
        print(f"{name} seed {seed}: {fusion} refitted: {new['test_accuracy'].iloc[0]:.4f}", flush=True)
    return df


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    g = rows.groupby(["name", "kind"], sort=False)
    out = g.agg(acc_mean=("test_accuracy", "mean"), acc_std=("test_accuracy", "std"),
                f1_mean=("test_f1_macro", "mean"), f1_std=("test_f1_macro", "std"),
                seconds=("seconds", "median")).reset_index()
    return out.sort_values("acc_mean", ascending=False)


def markdown(name: str, table: pd.DataFrame, seeds: list[int], chosen: list[str] | None = None) -> list[str]:
    picked = f" The saved model is the candidate chosen on validation; per seed: {', '.join(chosen)}." if chosen else ""
    lines = [f"### {name}", "", f"Test split, {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
             f"seconds = median training time of the candidate.{picked}", "",
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
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "accuracy",
                        help="folder of finished (data set, seed) results; a rerun skips them")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own); 1 keeps a shared, busy machine from "
                             "stalling every parallel region on a descheduled thread")
    parser.add_argument("--refresh", nargs="+", default=[], metavar="FUSION",
                        help="refit these fusions in every finished pair and replace their rows (after a change)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    command = f"python benchmarks/bench_accuracy.py {shlex.join(argv if argv is not None else sys.argv[1:])}".strip()
    head = ["## Accuracy of every fusion against each modality alone", "",
            f"Command: `{command}`",
            "", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + f"; {load_average()} at the start.",
            "", "Each (data set, seed) pair is saved when it finishes, and a rerun resumes from there; the time "
            "of a pair is its whole `Predictor.fit` (every fusion, the baselines, evaluation).", ""]
    done: dict[str, list[pd.DataFrame]] = {name: [] for name in args.data}
    for name in args.data:
        for seed in args.seeds:
            done[name].append(run_or_load(args.state, name, seed, args.epochs, args.refresh))
            lines = list(head)
            for n, frames in done.items():
                if frames:
                    lines += section(n, pd.concat(frames), args.seeds)
            lines.append(f"Load average at the last update: {load_average().removeprefix('load average ')}.")
            if not args.no_write:
                print("written to", write_section("accuracy", "\n".join(lines)), flush=True)


def section(name: str, rows: pd.DataFrame, planned: list[int]) -> list[str]:
    table = summarise(rows)
    print(table.to_string(index=False), flush=True)
    seeds = sorted(rows["seed"].unique().tolist())
    chosen = ([f"{int(r.seed)}: {r.chosen}" for r in rows[rows["name"] == SAVED].sort_values("seed").itertuples()]
              if "chosen" in rows else None)
    lines = markdown(name, table, seeds, chosen)
    if len(seeds) < len(planned):
        lines.insert(2, f"**Partial: {len(seeds)} of {len(planned)} planned seeds finished.** ")
    if "refreshed" in rows and rows["refreshed"].notna().any():
        again = rows[rows["refreshed"].notna()]
        lines[-1:-1] = ["", "Refitted alone after a change (same seeds, epochs and data; `--refresh`): "
                        + ", ".join(f"{n} on {d}" for n, d in again.groupby("name")["refreshed"].max().items())
                        + "."]
    if "pair_seconds" in rows:
        per = rows.groupby("seed")["pair_seconds"].first()
        lines[-1:-1] = ["", "Wall time per seed (whole fit): "
                        + ", ".join(f"{int(k)}: {v:.0f} s" for k, v in per.items()) + "."]
    return lines


if __name__ == "__main__":
    main()
