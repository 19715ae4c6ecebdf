"""Check every cell a job will use, and report *all* problems with row, column and reason.

Empty cells (NaN/None) in an input column are a missing modality, which is
normal, unless `require_all=True`. What is an error: a path to a file that is
not there or does not decode, blank or non-string text, a non-number in a
numeric column, a missing label, or a label the model has not seen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import Problem, ValidationError
from ..schema import Schema
from .label_text import label_text
from .table import Table, resolve_path

POLICIES = ("error", "skip")


@dataclass
class ValidationReport:
    table: Table  # the rows that passed (all rows when there were no problems)
    problems: list[Problem]
    skipped: pd.DataFrame  # one row per problem: row, column, reason, value

    @property
    def ok(self) -> bool:
        return not self.problems


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _named(kind: str, path: Path) -> str:
    """How a message names the media: its file, or the cell's bytes (stored under data/blobs.py's store)."""
    from .blobs import blob_root

    try:
        path.relative_to(blob_root())
    except ValueError:
        return f"{kind} {path}"
    return f"the {kind} bytes in this cell (stored as {path.name})"


def check_image(path: Path) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (256, 256))
            im.load()  # full decode: a truncated file fails here, not mid-training
    except Exception as exc:
        return f"cannot decode {_named('image', path)}: {exc}"
    return None


def check_audio(path: Path) -> str | None:
    import soundfile as sf

    try:
        wave, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        return f"cannot decode {_named('audio', path)}: {exc}"
    if len(wave) == 0:
        return f"audio file {path} holds no samples"
    return None


def check_video(path: Path) -> str | None:
    from .video import read_frames

    try:
        read_frames(path)
    except Exception as exc:
        return f"cannot decode {_named('clip', path)}: {exc}"
    return None


CHECKERS = {"image": check_image, "audio": check_audio, "video": check_video}


def _check_media(table: Table, column: str, role: str, rows: Iterable[int], workers: int) -> list[Problem]:
    values = table.df[column]
    jobs: list[tuple[int, str, Path]] = []
    problems = []
    for i in rows:
        v = values.iat[i]
        if is_missing(v):
            continue
        if not isinstance(v, str) or not v.strip():
            problems.append(Problem(i, column, f"expected a file path, got {type(v).__name__}", repr(v)[:80]))
            continue
        path = resolve_path(v.strip(), table.base_dir)
        try:
            found = path.exists()
        except OSError as exc:  # a name the system cannot hold (over its length limit) names no file
            problems.append(Problem(i, column, f"not a usable file path ({exc.strerror})", v.strip()[:80]))
            continue
        if not found:
            problems.append(Problem(i, column, f"file not found: {path}"))
        else:
            jobs.append((i, v, path))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # decoders release the GIL
        reasons = list(pool.map(CHECKERS[role], [p for _, _, p in jobs]))
    problems += [Problem(i, column, r) for (i, _, _), r in zip(jobs, reasons, strict=False) if r]
    return problems


def _check_text(values: pd.Series, column: str) -> list[Problem]:
    problems = []
    for i, v in enumerate(values):
        if is_missing(v):
            continue
        if not isinstance(v, str):
            problems.append(Problem(i, column, f"expected text, got {type(v).__name__}", repr(v)[:80]))
        elif not v.strip():
            problems.append(Problem(i, column, "text is blank (only white space)"))
    return problems


def _check_numeric(values: pd.Series, column: str) -> list[Problem]:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & ~values.map(is_missing)
    return [Problem(int(i), column, "not a number", str(values.iat[i])[:80]) for i in bad.to_numpy().nonzero()[0]]


def _check_label(values: pd.Series, column: str, known: set | None, unlabeled: np.ndarray | None = None
                 ) -> list[Problem]:
    problems = []
    known_text = None if known is None else {label_text(k) for k in known}
    for i, v in enumerate(values):
        if is_missing(v) and unlabeled is not None and unlabeled[i]:
            continue  # a row with no label at all: the caller sets it aside (predict/unlabeled.py)
        if is_missing(v):
            problems.append(Problem(i, column, "label is missing"))
        elif known_text is not None and label_text(v) not in known_text:
            shown = ", ".join(map(str, sorted(known, key=str)[:10]))
            problems.append(Problem(i, column, f"label {v!r} was not seen in training (known: {shown})"))
    return problems


def validate(table: Table, schema: Schema, *, on_error: str = "error", require_all: bool = False,
             known_labels: dict[str, set] | None = None, check_labels: bool = True,
             allow_unlabeled: bool = False, workers: int = 4, hint: str | None = None) -> ValidationReport:
    """Check `table` against `schema`. `on_error="error"` raises a `ValidationError` listing every
    problem (ending with `hint`, default: how to fix or skip at fit time); `"skip"` drops the rows
    with problems and returns them in `report.skipped`. `allow_unlabeled`: a row whose label cells are all
    empty is not a problem (a row with some labels and not others still is)."""
    if on_error not in POLICIES:
        raise ValueError(f"on_error must be one of {POLICIES}, got {on_error!r}")
    df = table.df
    problems: list[Problem] = []
    members = {c.name: c.role for c in schema.columns if c.name in schema.grouped}  # a tabular group's columns
    for column, role in {**schema.modalities, **members}.items():
        if column not in df.columns:
            continue  # a whole missing modality is the caller's decision (predict warns)
        if role in CHECKERS:
            problems += _check_media(table, column, role, range(len(df)), workers)
        elif role == "text":
            problems += _check_text(df[column], column)
        elif role == "numeric":
            problems += _check_numeric(df[column], column)
        if require_all:
            problems += [Problem(int(i), column, "value is missing and every modality is required")
                         for i in df[column].map(is_missing).to_numpy().nonzero()[0]]
    if check_labels:
        present = [c for c in schema.labels if c in df.columns]
        unlabeled = df[present].apply(lambda col: col.map(is_missing)).all(axis=1).to_numpy() \
            if allow_unlabeled and present else None
        for column in present:
            problems += _check_label(df[column], column, (known_labels or {}).get(column), unlabeled)
    return _apply_policy(table, sorted(problems, key=lambda p: (p.row, p.column)), on_error, hint)


def _apply_policy(table: Table, problems: list[Problem], on_error: str, hint: str | None = None) -> ValidationReport:
    skipped = pd.DataFrame([{"row": p.row, "column": p.column, "reason": p.reason,
                             "value": p.value or _cell_text(table.df, p.row, p.column)}
                            for p in problems], columns=["row", "column", "reason", "value"])
    if problems and on_error == "error":
        raise ValidationError(table.source, problems, hint=hint)
    bad_rows = sorted({p.row for p in problems})
    kept = table.df.drop(index=bad_rows).reset_index(drop=True)
    return ValidationReport(Table(kept, table.base_dir, table.source), problems, skipped)


def _cell_text(df: pd.DataFrame, row: int, column: str) -> str:
    """The cell as the user wrote it (for skipped.csv), blank when it is empty or not there."""
    if column not in df.columns or not 0 <= row < len(df):
        return ""
    value = df[column].iat[row]
    return "" if is_missing(value) else str(value)[:200]


def write_skipped(report: ValidationReport, path: str | Path) -> Path | None:
    """Write the skipped rows' reasons next to the original data (atomically)."""
    if report.skipped.empty:
        return None
    from ..runs.files import atomic_write

    return atomic_write(path, report.skipped.to_csv(index=False))
