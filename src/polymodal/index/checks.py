"""Validation at the edge of the vector index: every bad argument becomes a `PolymodalError` that
says what the index holds, what it was given, and which row was wrong."""

from __future__ import annotations

import json
import numbers
import warnings

import numpy as np
import pandas as pd

from ..errors import PolymodalError

RESERVED_COLUMNS = ("rank", "score", "row")  # search results add these beside the metadata
NORM_TOLERANCE = 1e-3


def describe_source(dim: int, meta: dict) -> str:
    """'384-dimensional embeddings (made by run 'runs/a1', modality 'text')' from what meta says."""
    run = meta.get("run", meta.get("run_id"))
    said = [f"made by run {run!r}"] if run is not None else []
    if meta.get("modality") is not None:
        said.append(f"modality {meta['modality']!r}")
    return f"{dim}-dimensional embeddings" + (f" ({', '.join(said)})" if said else "")


def as_matrix(values, what: str, dim: int, meta: dict) -> np.ndarray:
    """A C-contiguous float32 [n, dim] copy or view of `values`; a 1-D vector becomes one row."""
    array = np.asarray(values)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise PolymodalError(f"{what} must be a numeric array, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise PolymodalError(f"{what} must have shape [n, {dim}] or [{dim}], got shape {tuple(array.shape)}")
    if array.shape[1] != dim:
        raise PolymodalError(f"this index holds {describe_source(dim, meta)} but the {what} are "
                             f"{array.shape[1]}-dimensional (shape {tuple(array.shape)})")
    array = np.ascontiguousarray(array, dtype=np.float32)
    bad = ~np.isfinite(array.sum(axis=1, dtype=np.float64))  # NaN/inf survive a sum; no [n, dim] temporary
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
        raise PolymodalError(f"{what} contain NaN or infinite values in {len(rows)} row(s): {shown}")
    return array


def warn_if_not_normalised(vectors: np.ndarray, metric: str) -> None:
    if metric != "ip" or len(vectors) == 0:
        return
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))  # no [n, dim] temporary
    if np.abs(norms - 1).max() > NORM_TOLERANCE:
        warnings.warn(f"metric='ip' is cosine similarity only for L2-normalised vectors; these have norms "
                      f"from {norms.min():.4g} to {norms.max():.4g}. Normalise them first "
                      "(x / np.linalg.norm(x, axis=1, keepdims=True)) or use metric='l2'.", stacklevel=3)


def as_rows(rows: pd.DataFrame | None, n: int) -> pd.DataFrame:
    """The metadata frame for `n` new vectors, with a fresh 0..n-1 index."""
    if rows is None:
        return pd.DataFrame(index=pd.RangeIndex(n))
    if not isinstance(rows, pd.DataFrame):
        raise PolymodalError(f"rows must be a pandas DataFrame (one row per vector), got {type(rows).__name__}")
    if len(rows) != n:
        raise PolymodalError(f"got {n} vectors but {len(rows)} metadata rows; they must match one to one")
    not_str = [c for c in rows.columns if not isinstance(c, str)]
    if not_str:
        raise PolymodalError(f"metadata column names must be strings, got {not_str[:5]}")
    clash = [c for c in rows.columns if c in RESERVED_COLUMNS]
    if clash:
        raise PolymodalError(f"metadata columns {clash} clash with the columns search results add "
                             f"{list(RESERVED_COLUMNS)}; rename them")
    return rows.reset_index(drop=True)


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise PolymodalError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def json_meta(meta: dict | None) -> dict:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise PolymodalError(f"meta must be a dict of JSON values, got {type(meta).__name__}")
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as err:
        raise PolymodalError(f"meta must hold only JSON values (str, number, bool, None, list, dict): {err}") from None
    return meta
