"""The run directory every job writes: the envelope shared by all kinds.

    RUN/polymodal.json     kind, format version, polymodal version, the fit's parameters (written last:
                           its presence marks a finished run)
    RUN/fit_args.json      the parameters as the fit started (a resumed fit must repeat them; a run's own
                           file is also a `--config` that reproduces it)
    RUN/weights.safetensors  the model (no pickle: loading never executes code from the run)
    RUN/metrics.json, history.json, log.csv, report.html, plots/, README.md (the model card)
    RUN/checkpoints/       work in progress of an unfinished fit, what `--resume` takes up

Each job adds its own files (see the job's `FILES`).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from .. import __version__
from ..errors import PolymodalError
from .files import check_writable, read_json, write_json

FORMAT = 1
MARKER = "polymodal.json"
# a fit's work in progress, what --resume takes up (a predictor's bagging folds and self-training round keep
# their own candidates and checkpoints under bag/ and pseudo/)
WORK_DIRS = ("candidates", "checkpoints", "bag", "pseudo")
# Written by a fit about the fit (not about the model): copied along when a loaded run is saved elsewhere.
RECORDS = ("metrics.json", "history.json", "log.csv", "report.html", "plots", "README.md", "skipped.csv",
           "fit_args.json", "comparison.csv", "examples.json", "samples", "tensorboard")


def check_run(path: str | Path, kind: str | None = None, files: tuple[str, ...] = ()) -> Path:
    """A finished run directory of a format this polymodal reads, holding the envelope and `files`."""
    run = Path(path)
    if not run.is_dir():
        raise PolymodalError(f"{run}: not a run directory (no such folder)")
    if not (run / MARKER).exists():
        raise PolymodalError(f"{run}: not a run directory (no {MARKER}; an interrupted fit leaves none: "
                             "finish it with --resume)")
    meta = read_json(run / MARKER)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        made = meta.get("polymodal", "?") if isinstance(meta, dict) else "?"
        raise PolymodalError(f"{run}: written by an incompatible polymodal version (run format {got!r}, "
                             f"this polymodal reads {FORMAT}; it was made by polymodal {made})")
    if kind is not None and meta.get("kind") != kind:
        raise PolymodalError(f"{run}: holds a {meta.get('kind')!r} run, not {kind!r}")
    missing = [f for f in ("weights.safetensors", *files) if not (run / f).exists()]
    if missing:
        raise PolymodalError(f"{run}: run directory is missing {', '.join(missing)}")
    return run


def run_kind(path: str | Path) -> str:
    return read_json(check_run(path) / MARKER).get("kind", "?")


def write_marker(run: Path, kind: str, params: dict, **more) -> None:
    """polymodal.json, written last and durably: a run directory holding it is complete."""
    write_json(run / MARKER, {"format": FORMAT, "kind": kind, "polymodal": __version__,
                              "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **more, "fit": params}, durable=True)


def default_out(kind: str, root: str | Path = "runs") -> Path:
    """A new folder for a fit given no --out: runs/KIND-YYYYMMDD-HHMMSS (-2, -3 ... if taken)."""
    base = Path(root) / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, i = base, 2
    while out.exists():
        out, i = base.with_name(f"{base.name}-{i}"), i + 1
    return out


def prepare_out(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Make `out` ready for a fit. A finished run there is refused unless `overwrite` (its marker is
    removed first, so an interrupted new fit never passes for the old one). A new fit clears the work
    an earlier fit left (a later --resume would take it up as its own); `resume` keeps it. Either way the
    temporary files of a write cut short (a killed process runs no clean-up) are removed, and a folder
    that cannot be written is refused before any work."""
    check_writable(out)
    finished = (out / MARKER).exists()
    if finished and not overwrite:
        raise PolymodalError(f"{out}: holds a finished run; fit into a new --out, or pass --overwrite "
                             "(overwrite=True) to replace it")
    if finished:
        (out / MARKER).unlink()
    if not resume or finished:
        for stale in WORK_DIRS:
            shutil.rmtree(out / stale, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    for partial in out.rglob(".*.tmp"):  # runs/files.py atomic_write's temporary names
        partial.unlink(missing_ok=True)


def finish(run: Path) -> None:
    """The fit is saved whole: its checkpoints have nothing left to resume. (A predictor's `candidates/`
    stay: the finished weights of every candidate it compared.)"""
    for checkpoints in [run / "checkpoints", *run.glob("bag/*/checkpoints"), run / "pseudo" / "checkpoints"]:
        shutil.rmtree(checkpoints, ignore_errors=True)


def copy_records(source: Path, run: Path) -> None:
    """A loaded run saved elsewhere keeps what its fit recorded (metrics, history, report, card)."""
    if source.resolve() == run.resolve():
        return
    for name in RECORDS:
        src = source / name
        if src.is_dir():
            shutil.copytree(src, run / name, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, run / name)
