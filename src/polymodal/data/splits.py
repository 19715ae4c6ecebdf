"""Which rows train, which validate, which test: from the table's split column, or a seeded split,
or a separate validation table (`tuning_data=`, `--val TABLE`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import PolymodalError, TableError
from ..schema import FILE_ROLES, Column, Schema
from .table import Table, resolve_path

VAL_NAMES = ("val", "valid", "validation", "dev")
TUNING_SPLIT = "_polymodal_split"  # the split column of a table joined with its validation table
FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}  # a table without a split column
# Below this many rows (and no split column) a predictor's estimate is k-fold cross-validated: a 15% test split
# of fewer than 150 rows moves by several points of accuracy from one seed to the next.
CV_BELOW = 1000


def split_rows(df: pd.DataFrame, schema: Schema, label: str | None, *, seed: int = 0,
               test: bool = True, groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Row positions of train/val/test: from the table's split column when there is one, else a seeded
    split, stratified on the label where it is categorical: 70/15/15, or 85/15 train/val with `test=False`
    (a model refitted on every row after cross-validation, or a table whose test rows are elsewhere).
    `groups` (data/groups.py): rows sharing a media file land in the same part."""
    split_cols = schema.names("split")
    if split_cols:
        s = df[split_cols[0]].astype(str).str.lower()
        parts = {"train": np.flatnonzero(s == "train"), "val": np.flatnonzero(s.isin(VAL_NAMES)),
                 "test": np.flatnonzero(s == "test")}
        if len(parts["train"]) == 0:
            raise PolymodalError(f"split column {split_cols[0]!r} has no 'train' rows")
        return parts
    idx = np.arange(len(df))
    strat = df[label].astype(str).to_numpy() if label is not None else None
    if test:
        rest, held = cut(idx, FRACTIONS["test"], strat, seed, groups)
    else:
        rest, held = idx, idx[:0]
    train, val = cut(rest, FRACTIONS["val"] / (1 - FRACTIONS["test"] * test),
                     strat[rest] if strat is not None else None, seed, groups[rest] if groups is not None else None)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(held)}


def cut(idx: np.ndarray, fraction: float, strat: np.ndarray | None, seed: int,
        groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`idx` cut in two, stratified where every class can be: a class of one row, or fewer held-out rows
    than classes, makes sklearn refuse, and then the cut is plain random. With `groups`, whole groups go to
    one side (the held-out side is one fold of round(1 / fraction) group folds, stratified where it can be)."""
    from sklearn.model_selection import train_test_split

    if len(idx) < 2:
        return idx, idx[:0]
    if groups is not None and len(np.unique(groups)) >= max(2, round(1 / fraction)):
        held = fold_rows(len(idx), strat, folds=max(2, round(1 / fraction)), seed=seed, groups=groups)[0]
        return np.delete(idx, held), idx[held]
    try:
        return tuple(train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat))
    except ValueError:
        return tuple(train_test_split(idx, test_size=fraction, random_state=seed))


def fold_rows(n: int, strat: np.ndarray | None, *, folds: int, seed: int = 0,
              groups: np.ndarray | None = None) -> list[np.ndarray]:
    """The held-out positions of each of `folds` folds over `n` rows: seeded, stratified on `strat` (the
    label's values) where each class has a row for every fold, plain k-fold otherwise. With `groups` (a
    group id per row, data/groups.py), every group stays within one fold."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if n < folds:
        raise PolymodalError(f"{folds}-fold cross-validation needs at least {folds} rows; the table has {n}")
    idx = np.arange(n)
    stratified = strat is not None and pd.Series(strat).value_counts().min() >= folds
    if groups is not None and len(np.unique(groups)) >= folds:
        splitter = (StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(idx, strat, groups)
                    if stratified else GroupKFold(folds, shuffle=True, random_state=seed).split(idx, groups=groups))
    elif stratified:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed).split(idx, strat)
    else:
        splitter = KFold(folds, shuffle=True, random_state=seed).split(idx)
    return [np.sort(held) for _, held in splitter]


def with_tuning_rows(table: Table, tuning: Table, schema: Schema, *, seed: int = 0) -> tuple[Table, Schema]:
    """`table`'s rows then `tuning`'s, with a split column saying which is which: the tuning rows
    validate; the table's rows train, except its test rows (those its own split column marks `test`, else
    a seeded 15% of them). File paths are made absolute first, since each table's relative paths start
    from its own folder."""
    needed = [c.name for c in schema.columns if c.role not in ("split", "ignore")]
    missing = [c for c in needed if c not in tuning.df.columns]
    if missing:
        raise TableError(f"{tuning.source}: the validation table lacks column(s) {', '.join(map(repr, missing))} "
                         f"of the training table {table.source}")
    if len(tuning) == 0:
        raise TableError(f"{tuning.source}: the validation table has no rows")
    own = schema.names("split")
    if own:
        marks = table.df[own[0]].astype(str).str.lower().eq("test").map({True: "test", False: "train"})
    else:
        label = next(iter(schema.labels), None)
        _, held = cut(np.arange(len(table)), FRACTIONS["test"],
                         table.df[label].astype(str).to_numpy() if label else None, seed)
        marks = pd.Series(["train"] * len(table))
        marks.iloc[held] = "test"
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
