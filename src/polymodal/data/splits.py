"""Which rows train, which validate, which test: from the table's split column, or a seeded split,
or a separate validation table (`tuning_data=`, `--val TABLE`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import PolymodalError, TableError
from ..schema import Column, Schema
from .table import Table, resolve_path

FILE_ROLES = ("image", "audio", "video")
VAL_NAMES = ("val", "valid", "validation", "dev")
TUNING_SPLIT = "_polymodal_split"  # the split column of a table joined with its validation table


def split_rows(df: pd.DataFrame, schema: Schema, label: str | None, *, seed: int = 0,
               val_fraction: float = 0.2) -> dict[str, np.ndarray]:
    """Row positions of train/val/test: from the table's split column when there is one, else a
    seeded split of the rows (stratified on the label where it is categorical)."""
    split_cols = schema.names("split")
    if split_cols:
        s = df[split_cols[0]].astype(str).str.lower()
        parts = {"train": np.flatnonzero(s == "train"), "val": np.flatnonzero(s.isin(VAL_NAMES)),
                 "test": np.flatnonzero(s == "test")}
        if len(parts["train"]) == 0:
            raise PolymodalError(f"split column {split_cols[0]!r} has no 'train' rows")
        return parts
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(df))
    strat = df[label].astype(str).to_numpy() if label is not None else None
    if strat is not None and pd.Series(strat).value_counts().min() < 2:
        strat = None
    train, val = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=strat)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.array([], dtype=int)}


def with_tuning_rows(table: Table, tuning: Table, schema: Schema) -> tuple[Table, Schema]:
    """`table`'s rows then `tuning`'s, with a split column saying which is which: the tuning rows
    validate; the table's rows train (those its own split column marks `test` still test). File paths
    are made absolute first, since each table's relative paths start from its own folder."""
    needed = [c.name for c in schema.columns if c.role not in ("split", "ignore")]
    missing = [c for c in needed if c not in tuning.df.columns]
    if missing:
        raise TableError(f"{tuning.source}: the validation table lacks column(s) {', '.join(map(repr, missing))} "
                         f"of the training table {table.source}")
    if len(tuning) == 0:
        raise TableError(f"{tuning.source}: the validation table has no rows")
    own = schema.names("split")
    marks = (table.df[own[0]].astype(str).str.lower().eq("test").map({True: "test", False: "train"})
             if own else pd.Series(["train"] * len(table)))
    parts = [_absolute(table, schema, needed).assign(**{TUNING_SPLIT: marks.to_numpy()}),
             _absolute(tuning, schema, needed).assign(**{TUNING_SPLIT: "val"})]
    df = pd.concat(parts, ignore_index=True)
    split_schema = Schema([*(c for c in schema.columns if c.role != "split"),
                           Column(TUNING_SPLIT, "split", "train rows from the table, val rows from tuning_data")],
                          schema.source)
    return Table(df, table.base_dir, f"{table.source} + {tuning.source} (validation)"), split_schema


def _absolute(table: Table, schema: Schema, columns: list[str]) -> pd.DataFrame:
    df = table.df[columns].copy()
    for column in schema.names(*FILE_ROLES):
        if column in df.columns:
            df[column] = [v if not isinstance(v, str) or not v.strip() else str(resolve_path(v.strip(), table.base_dir))
                          for v in df[column]]
    return df
