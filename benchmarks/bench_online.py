"""Online updates (`warm_start=`, predict/warm.py): accuracy on the old and the new rows after an update, with and
without experience replay, against refitting from scratch.

Each data set's rows are dealt into two phases by class, seeded: the first half of the classes goes to the old phase
with probability 0.9 (else to the new one), the second half with probability 0.1. Both phases hold every class (an
update keeps the run's label set), but each is mostly one half: a model fine-tuned on the new phase alone meets the
old half's classes in a tenth of its rows. Each phase keeps the recipe's train/val/test split column.

Per data set and seed, every arm is `Predictor(fusion="concat", classical="none", baselines=False, ensemble=False)`
on the frozen pretrained encoders, so the figures are the neural candidate's own (a classical candidate is refitted
on update, not continued):
- before: fitted on the old phase (the run every update continues);
- replay: that run continued on the new phase with its replay reservoir (1,000 rows, the default);
- no replay: continued on the new phase alone (`replay=0`: plain fine-tuning);
- scratch (new): a fresh fit on the new phase alone;
- scratch (all): a fresh fit on both phases, the refit an update saves.
Reported: test accuracy on the old phase's test rows, the new phase's, and both, mean ± std over seeds, and the
fit's seconds (an update's own, not its run's).

    python benchmarks/bench_online.py [--data digits openmoji] [--seeds 0 1 2]

Resumable: each finished (data set, seed) is saved atomically under `--state`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench_accuracy import SETUPS
from bench_baselines import table_for
from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.data.table import read_table
from polymodal.paths import home

FIT = {"fusion": "concat", "classical": "none", "baselines": False, "ensemble": False, "progress": False}
ARMS = ("before", "replay", "no replay", "scratch (new)", "scratch (all)")


def phases(name: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    path = table_for(name, 1.0, seed)
    df = pd.read_parquet(path)
    label = SETUPS[name]["label"]
    classes = sorted(df[label].astype(str).unique())
    first = set(classes[: len(classes) // 2])
    rng = np.random.default_rng(seed)
    old = rng.random(len(df)) < np.where(df[label].astype(str).isin(first), 0.9, 0.1)
    return df[old].reset_index(drop=True), df[~old].reset_index(drop=True), path.parent


def accuracy(p: Predictor, df: pd.DataFrame, base: Path) -> float:
    test = df[df["split"] == "test"].reset_index(drop=True)
    label = p.labels[0]
    predicted = p.predict(read_table(test, base_dir=base)).astype(str).to_numpy()
    return float((predicted == test[label].astype(str).to_numpy()).mean())


def run(name: str, seed: int) -> pd.DataFrame:
    s = SETUPS[name]
    old, new, base = phases(name, seed)
    both = pd.concat([old, new], ignore_index=True)
    args = {"encoders": s["encoders"], "overrides": s.get("overrides"), "seed": seed, **FIT}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "first"
        fits = {"before": (lambda: Predictor(s["label"], **args).fit(read_table(old, base_dir=base), out=first)),
                "replay": (lambda: Predictor(s["label"], warm_start=first, **args).fit(read_table(new, base_dir=base))),
                "no replay": (lambda: Predictor(s["label"], warm_start=first, replay=0, **args)
                              .fit(read_table(new, base_dir=base))),
                "scratch (new)": (lambda: Predictor(s["label"], **args).fit(read_table(new, base_dir=base))),
                "scratch (all)": (lambda: Predictor(s["label"], **args).fit(read_table(both, base_dir=base)))}
        for arm in ARMS:
            started = time.time()
            p = fits[arm]()
            seconds = time.time() - started
            rows.append({"data": name, "seed": seed, "arm": arm, "old": accuracy(p, old, base),
                         "new": accuracy(p, new, base), "all": accuracy(p, both, base), "seconds": seconds,
                         "old_rows": len(old), "new_rows": len(new)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "online")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    frames = [stored(args.state / f"{name}-seed{seed}.csv", lambda n=name, s=seed: run(n, s),
                     lambda df: f"{df['data'].iloc[0]} seed {df['seed'].iloc[0]}: " + ", ".join(
                         f"{r.arm} old {r.old:.3f} new {r.new:.3f}" for r in df.itertuples()))
              for name in args.data for seed in args.seeds]
    rows = pd.concat(frames, ignore_index=True)
    body = ["| data set | model | accuracy, old rows | accuracy, new rows | accuracy, all | fit s |",
            "|---|---|---:|---:|---:|---:|"]
    for name, group in rows.groupby("data", sort=False):
        sizes = group.iloc[0]
        for arm in ARMS:
            g = group[group["arm"] == arm]
            body.append(f"| {name} ({sizes['old_rows']} old, {sizes['new_rows']} new rows) | {arm} | "
                        f"{mean_std(g['old'])} | {mean_std(g['new'])} | {mean_std(g['all'])} | "
                        f"{g['seconds'].median():.0f} |")
    opening = head("Online updates: old and new accuracy, with and without replay",
                   command_line("bench_online.py", argv),
                   f"concat on the frozen features, {len(args.seeds)} seeds (mean ± std). Rows dealt into an old and "
                   "a new phase by class (the first half of the classes 90% old, the rest 90% new); accuracy on each "
                   "phase's test rows. `before` is the old phase's run; `replay` and `no replay` continue it on the "
                   "new phase (warm_start, with its 1,000-row reservoir or replay=0); the scratch rows are fresh fits.")
    publish("online", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
