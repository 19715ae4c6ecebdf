"""Top-level helpers: load a run directory of any kind, compare runs."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from .errors import PolymodalError
from .run import check_run, read_json


def load(path: str | Path):
    """Restore a run directory (the model, its encoders, schema and task) for predict/evaluate."""
    run = check_run(path)
    kind = read_json(run / "polymodal.json").get("kind")
    if kind == "predictor":
        from .run_io import load_predictor

        return load_predictor(run)
    if kind == "aligner":
        from .alignment.run_io import load_aligner

        return load_aligner(run)
    if kind == "generator":
        from .generation.run_io import load_generator

        return load_generator(run)
    if kind == "captioner":
        from .captioning.run_io import load_captioner

        return load_captioner(run)
    raise PolymodalError(f"{run}: unknown run kind {kind!r}")


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
        row["fit_seconds"] = metrics.get("fit_seconds")
        rows.append(row)
    return pd.DataFrame(rows)
