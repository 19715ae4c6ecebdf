"""The run directory: everything needed to reload, evaluate, serve or export a fitted model.

    RUN/polymodal.json     kind, format version, polymodal version, the fit arguments
    RUN/fit_args.json      the fit arguments as the fit started (a resumed fit must repeat them)
    RUN/schema.json        column roles
    RUN/task.json          the task's learned state (classes, target scaling)
    RUN/encoders.json      per input column: encoder name, rebuild config, mode
    RUN/model.json         fusion name and its own (flat) options, the modalities it was trained on
    RUN/weights.safetensors  model weights (no pickle: loading never executes code)
    RUN/metrics.json, comparison.csv, history.json, plots/, report.html

Pretrained frozen encoders are not copied into the run: they are rebuilt from their package.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file

from .errors import PolymodalError
from .training.checkpoint import atomic_write_text, save_tensors

FORMAT = 1
REQUIRED = ("polymodal.json", "schema.json", "task.json", "encoders.json", "model.json", "weights.safetensors")


def write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_jsonable))


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def read_json(path: Path):
    """The JSON in `path`; a damaged file is a clear error that names it, not a traceback."""
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolymodalError(f"{path}: corrupt or unreadable JSON ({exc}); re-run the command that wrote it") from exc


def load_tensors(path: Path) -> dict:
    """The tensors of a safetensors file; a damaged file is a clear error that names it."""
    try:
        return load_file(str(path))
    except SafetensorError as exc:
        raise PolymodalError(f"{path}: corrupt or unreadable weights ({exc}); re-run the fit that wrote them") from exc


def check_run(path: str | Path, kind: str | None = None) -> Path:
    """A run directory that exists, holds every required file and has a format we can read."""
    run = Path(path)
    if not run.is_dir():
        raise PolymodalError(f"{run}: not a run directory (no such folder)")
    head = run / "polymodal.json"
    if not head.exists():
        raise PolymodalError(f"{run}: not a run directory (no polymodal.json)")
    meta = read_json(head)
    if meta.get("format") != FORMAT:
        raise PolymodalError(f"{run}: written by an incompatible polymodal version "
                             f"(run format {meta.get('format')!r}, this polymodal reads {FORMAT}; "
                             f"it was made by polymodal {meta.get('polymodal', '?')})")
    if kind is not None and meta.get("kind") != kind:
        raise PolymodalError(f"{run}: holds a {meta.get('kind')!r} run, not {kind!r}")
    needed = REQUIRED if meta.get("kind") == "predictor" else ("polymodal.json", "weights.safetensors")
    missing = [f for f in needed if not (run / f).exists()]
    if missing:
        raise PolymodalError(f"{run}: run directory is missing {', '.join(missing)}")
    return run


__all__ = ["FORMAT", "REQUIRED", "check_run", "load_tensors", "read_json", "save_tensors", "write_json"]
