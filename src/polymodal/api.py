"""Top-level helpers: load a run directory of any kind, compare runs."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from .runs.directory import check_run
from .runs.files import read_json
from .runs.kinds import load

__all__ = ["compare_runs", "load"]


def compare_runs(paths: list[str | Path]) -> pd.DataFrame:
    """One row per run: its best candidate and that candidate's validation/test metrics."""
    rows = []
    for path in paths:
        run = check_run(path)
        metrics = read_json(run / "metrics.json") if (run / "metrics.json").exists() else {}
        if not metrics:
            warnings.warn(f"{run}: no metrics.json (a run saved without a fit's evaluation); its row is empty",
                          stacklevel=2)
        monitor = metrics.get("monitor", "")
        row = {"run": str(path), "task": metrics.get("task"), "best": metrics.get("best")}
        for split in ("val", "test"):
            for key in (monitor, "accuracy", "f1_macro", "rmse", "r2"):
                if key and key in metrics.get(split, {}):
                    row[f"{split}_{key}"] = metrics[split][key]
        cv = metrics.get("cv", {})
        if monitor and monitor in cv.get("mean", {}):
            row[f"cv_{monitor}"], row[f"cv_{monitor}_std"] = cv["mean"][monitor], cv["std"][monitor]
        row["estimate"] = metrics.get("estimate", {}).get("kind")
        row["fit_seconds"] = metrics.get("fit_seconds")
        rows.append(row)
    return pd.DataFrame(rows)
