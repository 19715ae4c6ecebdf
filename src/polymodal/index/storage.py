"""An index folder on disk: `index.faiss` (faiss.write_index), `rows.parquet` (the metadata, with its
row ids) and `index.json` (what it is, and the byte size of the other two), written last.

Each file is written under a temporary name and moved into place with `os.replace`. When a save
overwrites an older one, the old `index.json` is removed before the new files move in, so an
interrupted save leaves a folder that `read_folder` refuses with a clear message; it never loads
the vectors of one save with the rows of another. Loading executes no code (no pickle)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import PolymodalError
from ..runs.files import atomic_write
from .backend import METRICS

FORMAT_VERSION = 1
INDEX_FILE, ROWS_FILE, JSON_FILE = "index.faiss", "rows.parquet", "index.json"
INDEX_TYPES = {"flat": faiss.IndexFlat, "hnsw": faiss.IndexHNSWFlat, "ivf": faiss.IndexIVFFlat}
REQUIRED_KEYS = ("dim", "kind", "metric", "params", "count", "meta", "files")


def _write_rows(rows: pd.DataFrame, path: Path) -> None:
    framed = rows.copy()
    framed.insert(0, "row", range(len(rows)))  # keeps the row count even with no metadata columns
    try:
        framed.to_parquet(path, index=False)
    except (pa.ArrowException, TypeError, ValueError) as err:  # a column pyarrow cannot convert
        raise PolymodalError(f"cannot write the row metadata to Parquet: {err}. Each column must hold "
                             "one type of value (text, numbers, booleans, ...).") from err


def write_folder(folder: Path, index: faiss.Index | None, rows: pd.DataFrame, header: dict) -> None:
    """`header` is index.json without the format version and file sizes, which this adds."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.staged-*"):  # left by a save that was killed (a killed process cleans nothing)
        stale.unlink(missing_ok=True)
    staged = {ROWS_FILE: folder / f".{ROWS_FILE}.staged-{os.getpid()}"}
    if index is not None:
        staged[INDEX_FILE] = folder / f".{INDEX_FILE}.staged-{os.getpid()}"
    try:
        if index is not None:
            faiss.write_index(index, str(staged[INDEX_FILE]))
        _write_rows(rows, staged[ROWS_FILE])
        sizes = {name: path.stat().st_size for name, path in staged.items()}
        (folder / JSON_FILE).unlink(missing_ok=True)  # from here until the end, the folder reads as unfinished
        if index is None:  # an empty IVF index has no FAISS file; drop an older one
            (folder / INDEX_FILE).unlink(missing_ok=True)
        for name, path in staged.items():
            os.replace(path, folder / name)
        text = json.dumps({"format_version": FORMAT_VERSION, **header, "files": sizes}, indent=2)
        atomic_write(folder / JSON_FILE, text, durable=True)
    finally:
        for path in staged.values():
            path.unlink(missing_ok=True)


def _read_header(folder: Path) -> dict:
    if not folder.exists():
        raise PolymodalError(f"no index folder at {folder}")
    if not folder.is_dir():
        raise PolymodalError(f"{folder} is a file; an index is a folder holding {JSON_FILE}, {INDEX_FILE}, {ROWS_FILE}")
    path = folder / JSON_FILE
    if not path.exists():
        raise PolymodalError(f"{folder} has no {JSON_FILE}: it is not a saved index, or its save was "
                             f"interrupted ({JSON_FILE} is written last). Save the index again.")
    try:
        header = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise PolymodalError(f"{path} is not readable JSON: {err}") from None
    version = header.get("format_version") if isinstance(header, dict) else None
    if version != FORMAT_VERSION:
        raise PolymodalError(f"{path} has format version {version!r}; this polymodal reads index format "
                             f"version {FORMAT_VERSION}" + (" (saved by a newer polymodal? upgrade it)"
                                                            if isinstance(version, int) and version > FORMAT_VERSION
                                                            else ""))
    missing = [key for key in REQUIRED_KEYS if key not in header]
    if missing:
        raise PolymodalError(f"{path} lacks {missing}; it was not written by VectorIndex.save")
    if header["kind"] not in INDEX_TYPES or header["metric"] not in METRICS:
        raise PolymodalError(f"{path}: unknown kind {header['kind']!r} or metric {header['metric']!r}")
    return header


def _check_file(folder: Path, name: str, expected_size: int) -> Path:
    path = folder / name
    if not path.exists():
        raise PolymodalError(f"{folder} is missing {name}, which {JSON_FILE} lists")
    if path.stat().st_size != expected_size:
        raise PolymodalError(f"{path} is {path.stat().st_size} bytes but {JSON_FILE} records {expected_size}: "
                             "the folder mixes files from different saves. Save the index again.")
    return path


def read_folder(folder: Path) -> tuple[dict, faiss.Index | None, pd.DataFrame]:
    """The header, the FAISS index (None for an IVF index saved before its first add) and the rows."""
    header = _read_header(folder)
    files, count = header.get("files", {}), header["count"]
    index = None
    if INDEX_FILE in files:
        path = _check_file(folder, INDEX_FILE, files[INDEX_FILE])
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as err:
            raise PolymodalError(f"{path} is not a readable FAISS index: {str(err).splitlines()[0]}") from None
    rows = pd.read_parquet(_check_file(folder, ROWS_FILE, files.get(ROWS_FILE, -1)))
    stored = 0 if index is None else index.ntotal
    if stored != count or len(rows) != count:
        raise PolymodalError(f"{folder}: count mismatch: {JSON_FILE} says {count} vectors, {INDEX_FILE} holds "
                             f"{stored} and {ROWS_FILE} holds {len(rows)} rows")
    if "row" not in rows.columns or not np.array_equal(rows["row"].to_numpy(), np.arange(count)):
        raise PolymodalError(f"{folder / ROWS_FILE} does not hold the row ids 0..{count - 1} in order")
    if index is not None and (index.d != header["dim"] or not isinstance(index, INDEX_TYPES[header["kind"]])
                              or index.metric_type != METRICS[header["metric"]]):
        raise PolymodalError(f"{folder}: {JSON_FILE} describes a {header['dim']}-dimensional {header['kind']} "
                             f"{header['metric']} index but {INDEX_FILE} holds a {index.d}-dimensional "
                             f"{type(index).__name__} (metric type {index.metric_type})")
    return header, index, rows.drop(columns="row")
