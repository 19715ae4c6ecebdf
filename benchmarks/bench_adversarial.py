"""Adversarial robustness (`evaluate --attack`, `fit --adversarial`, training/adversarial.py): test accuracy against
the attack's budget, with and without adversarial training.

Per data set and seed, two `Predictor(fusion="concat", classical="none", baselines=False, ensemble=False)` on the
frozen pretrained encoders (the attacks move cached features: feature space): one trained as usual, one with
`adversarial="pgd", epsilon=0.1` (every batch's loss averages the clean and the PGD-attacked batch). Each model's
test rows are then attacked, every modality at once, by FGSM and by PGD (7 steps) at each budget (a share of each
input column's standard deviation; 0 is the clean test set). Reported: accuracy, mean ± std over seeds.

    python benchmarks/bench_adversarial.py [--data digits openmoji] [--seeds 0 1 2] [--epsilons 0.05 0.1 0.2]

Resumable: each finished (data set, training, seed) is saved atomically under `--state`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from bench_accuracy import SETUPS
from bench_baselines import table_for
from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.data.table import read_table
from polymodal.paths import home

TRAINED = {"standard": None, "adversarial (PGD, 0.1)": "pgd"}


def run(name: str, training: str, seed: int, epsilons: list[float]) -> pd.DataFrame:
    s = SETUPS[name]
    p = Predictor(s["label"], fusion="concat", encoders=s["encoders"], overrides=s.get("overrides"), seed=seed,
                  classical="none", baselines=False, ensemble=False, adversarial=TRAINED[training], epsilon=0.1,
                  progress=False)
    path = table_for(name, 1.0, seed)
    started = time.time()
    p.fit(path)
    seconds = time.time() - started
    df = pd.read_parquet(path)
    test = read_table(df[df["split"] == "test"].reset_index(drop=True), base_dir=path.parent)
    rows = []
    for attack in ("fgsm", "pgd"):
        curve = p.robustness(test, attack=attack, epsilons=epsilons)
        for r in curve.to_dict(orient="records"):
            if r["attacked"] in ("none", "all"):
                rows.append({"data": name, "training": training, "seed": seed, "attack": attack,
                             "epsilon": r["epsilon"], "accuracy": r["accuracy"], "fit_seconds": seconds})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "adversarial")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    frames = [stored(args.state / f"{name}-{'adv' if TRAINED[t] else 'std'}-seed{seed}.csv",
                     lambda n=name, t=t, s=seed: run(n, t, s, args.epsilons),
                     lambda df: f"{df['data'].iloc[0]} {df['training'].iloc[0]} seed {df['seed'].iloc[0]}: "
                     + ", ".join(f"{r.attack}@{r.epsilon:g} {r.accuracy:.3f}" for r in df.itertuples()))
              for name in args.data for t in TRAINED for seed in args.seeds]
    rows = pd.concat(frames, ignore_index=True)
    budgets = sorted(rows["epsilon"].unique())
    body = ["| data set | training | attack | " + " | ".join(f"epsilon {e:g}" for e in budgets) + " | fit s |",
            "|---|---|---|" + "---:|" * (len(budgets) + 1)]
    for (name, training), group in rows.groupby(["data", "training"], sort=False):
        for attack in ("fgsm", "pgd"):
            cells = []
            for e in budgets:  # epsilon 0 (clean) is measured once per model, before either attack
                g = group[(group["epsilon"] == e) & ((group["attack"] == attack) | (group["epsilon"] == 0))]
                g = g.drop_duplicates(["seed", "epsilon"])
                cells.append(mean_std(g["accuracy"]))
            body.append(f"| {name} | {training} | {attack} | " + " | ".join(cells)
                        + f" | {group['fit_seconds'].median():.0f} |")
    opening = head("Adversarial robustness: accuracy against the attack's budget", command_line("bench_adversarial.py",
                   argv), f"concat on the frozen features, {len(args.seeds)} seeds (mean ± std); test rows attacked "
                   "in feature space, every modality at once; epsilon in standard deviations of each input column "
                   "(0: clean).")
    publish("adversarial", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
