"""Differential privacy (`dp_epsilon=`, training/private.py): test accuracy against the privacy budget.

Per data set, seed and epsilon, one `Predictor(fusion="concat", dp_epsilon=E)` on the data set's frozen pretrained
encoders (a private fit trains that one fusion and nothing else), delta 1e-5, each row's gradient clipped to norm 1;
and the same fusion without privacy (`classical="none", baselines=False`) as the reference. Reported: test accuracy,
mean ± std over seeds, the epsilon the accountant says was spent (at most the target; less when early stopping ends
training sooner), the noise multiplier, and the fit's seconds. A plot of accuracy against epsilon goes beside
BENCHMARKS.md.

    python benchmarks/bench_private.py [--data digits openmoji] [--seeds 0 1 2] [--epsilons 0.5 1 2 4 8]

Resumable: each finished (data set, epsilon, seed) is saved atomically under `--state`.
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

FIGURE = Path(__file__).resolve().parent / "figures" / "private.png"


def run(name: str, epsilon: float | None, seed: int, batch_size: int = 128) -> dict:
    s = SETUPS[name]
    p = Predictor(s["label"], fusion="concat", encoders=s["encoders"], overrides=s.get("overrides"), seed=seed,
                  classical="none", baselines=False, ensemble=False, dp_epsilon=epsilon, batch_size=batch_size,
                  progress=False)
    started = time.time()
    p.fit(table_for(name, 1.0, seed))
    privacy = p.best_.privacy or {}
    return {"data": name, "epsilon": np.inf if epsilon is None else epsilon, "seed": seed,
            "accuracy": p.best_.test["accuracy"], "spent": privacy.get("epsilon_spent", np.inf),
            "noise": privacy.get("noise_multiplier", 0.0), "steps": privacy.get("steps", 0),
            "seconds": round(time.time() - started, 1)}


def plot(rows: pd.DataFrame, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="tight")
    ax = fig.subplots()
    for name, group in rows.groupby("data", sort=False):
        private = group[np.isfinite(group["epsilon"])].groupby("epsilon")["accuracy"].agg(["mean", "std"])
        line = ax.errorbar(private.index, private["mean"], yerr=private["std"], marker="o", capsize=3, label=name)
        free = group[~np.isfinite(group["epsilon"])]["accuracy"].mean()
        ax.axhline(free, color=line[0].get_color(), linestyle="--", alpha=0.6, label=f"{name}, no privacy")
    ax.set(xscale="log", xlabel="epsilon (delta 1e-5)", ylabel="test accuracy", title="Accuracy against the privacy "
           "budget (concat, DP-SGD)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0, 8.0])
    parser.add_argument("--batch-size", type=int, default=128, help="rows a step (Poisson-sampled on average)")
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "private")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    frames = []
    for name in args.data:
        for seed in args.seeds:
            for epsilon in [None, *args.epsilons]:
                tag = ("none" if epsilon is None else f"{epsilon:g}") + ("" if args.batch_size == 128 else
                                                                         f"-batch{args.batch_size}")
                frames.append(stored(args.state / f"{name}-eps{tag}-seed{seed}.csv",
                                     lambda n=name, e=epsilon, s=seed: pd.DataFrame([run(n, e, s, args.batch_size)]),
                                     lambda df: f"{df['data'].iloc[0]} epsilon {df['epsilon'].iloc[0]:g} seed "
                                                f"{df['seed'].iloc[0]}: accuracy {df['accuracy'].iloc[0]:.3f}"))
    rows = pd.concat(frames, ignore_index=True)
    body = ["| data set | epsilon (target) | test accuracy | epsilon spent | noise multiplier | fit s |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, group in rows.groupby("data", sort=False):
        for epsilon, g in group.groupby("epsilon", sort=True):
            shown = "no privacy" if not np.isfinite(epsilon) else f"{epsilon:g}"
            spent = "" if not np.isfinite(epsilon) else f"{g['spent'].max():.3f}"
            noise = "" if not np.isfinite(epsilon) else f"{g['noise'].median():.2f}"
            body.append(f"| {name} | {shown} | {mean_std(g['accuracy'])} | {spent} | {noise} | "
                        f"{g['seconds'].median():.0f} |")
    figure = FIGURE if args.batch_size == 128 else FIGURE.with_name(f"private-batch{args.batch_size}.png")
    if not args.no_write:
        body += ["", f"![accuracy against epsilon](benchmarks/figures/{figure.name})"]
        plot(rows, figure)
    opening = head("Differential privacy: accuracy against the privacy budget", command_line("bench_private.py", argv),
                   f"concat on the frozen features trained by DP-SGD (Opacus; delta 1e-5, per-row gradient norm 1, "
                   f"Poisson-sampled batches of {args.batch_size} on average), {len(args.seeds)} seeds (mean ± std); "
                   "`no privacy` is the same fusion trained as usual. Epsilon spent: the largest over seeds, from the "
                   "accountant.")
    publish("private" if args.batch_size == 128 else f"private-batch{args.batch_size}", opening, body,
            write=not args.no_write)


if __name__ == "__main__":
    main()
