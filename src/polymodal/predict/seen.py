"""Which rows a fitted predictor has seen: a fingerprint of every row its final fit trained on or chose
with (train and validation rows), so that `evaluate` can say when it is given some of them back.

A row's fingerprint hashes its id column(s) when the table has any (pandas' fixed-key row hash, the same
in every process), else its input and label cells as text, file paths resolved against the table's
folder: the same file is the same cell whether a table names it relatively or not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.table import Table, resolve_path
from ..schema import FILE_ROLES, Schema


def fingerprint_columns(schema: Schema, model_columns: list[str]) -> list[str]:
    """The id column(s), else the input and label columns (a tabular group as its member columns)."""
    ids = schema.names("id")
    return ids if ids else [*(m for c in model_columns for m in schema.members(c)), *schema.labels]


def fingerprints(table: Table, schema: Schema, columns: list[str]) -> np.ndarray:
    """One uint64 per row of `table` over `columns` (a column the table lacks counts as empty)."""
    files = set(schema.names(*FILE_ROLES))
    cells = {}
    for c in columns:
        if c not in table.df.columns:
            cells[c] = [""] * len(table)
        elif c in files:
            cells[c] = [str(resolve_path(v.strip(), table.base_dir)) if isinstance(v, str) and v.strip() else ""
                        for v in table.df[c]]
        else:
            cells[c] = table.df[c].astype(str).tolist()
    return pd.util.hash_pandas_object(pd.DataFrame(cells), index=False).to_numpy(dtype=np.uint64)


def seen_mask(table: Table, schema: Schema, columns: list[str], seen: np.ndarray) -> np.ndarray:
    return np.isin(fingerprints(table, schema, columns), seen)
