"""Which rows a fitted predictor has seen: a fingerprint of every row its final fit trained on or chose
with (train and validation rows), so that `evaluate` can say when it is given some of them back.

A row's fingerprint hashes its id column(s) when the table has any (pandas' fixed-key row hash, the same
in every process), else its input and label cells as text. Relative paths count as written: the same
table gives the same prints wherever it is evaluated from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import Schema


def fingerprint_columns(schema: Schema, model_columns: list[str]) -> list[str]:
    ids = schema.names("id")
    return ids if ids else [*model_columns, *schema.labels]


def fingerprints(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One uint64 per row of `df` over `columns` (a column the table lacks counts as empty)."""
    cells = pd.DataFrame({c: df[c].astype(str) if c in df.columns else "" for c in columns}, index=df.index)
    return pd.util.hash_pandas_object(cells, index=False).to_numpy(dtype=np.uint64)


def seen_mask(df: pd.DataFrame, columns: list[str], seen: np.ndarray) -> np.ndarray:
    return np.isin(fingerprints(df, columns), seen)
