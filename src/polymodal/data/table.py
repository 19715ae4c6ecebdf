"""Reading a user's table: CSV, TSV, Parquet, JSONL or a pandas DataFrame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import TableError

READERS = {
    ".csv": lambda p: pd.read_csv(p),
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".parquet": lambda p: pd.read_parquet(p),
    ".pq": lambda p: pd.read_parquet(p),
    ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
    ".ndjson": lambda p: pd.read_json(p, lines=True, dtype=False),
    ".json": lambda p: pd.read_json(p, dtype=False),
}


@dataclass
class Table:
    """A table plus where it came from: relative paths in it resolve against `base_dir`."""

    df: pd.DataFrame
    base_dir: Path
    source: str  # file path, or "<DataFrame>"

    def __len__(self) -> int:
        return len(self.df)


def read_table(source: str | Path | pd.DataFrame | Table, base_dir: str | Path | None = None) -> Table:
    """Read `source` into a `Table`. A DataFrame's paths resolve against `base_dir` (default: cwd)."""
    if isinstance(source, Table):
        return source
    if isinstance(source, pd.DataFrame):
        return Table(source.reset_index(drop=True), Path(base_dir or Path.cwd()).resolve(), "<DataFrame>")
    path = Path(source).expanduser()
    if path.is_dir():
        candidates = [path / n for n in ("table.parquet", "table.csv", "table.jsonl")]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise TableError(f"{path}: is a folder with no table.parquet, table.csv or table.jsonl in it")
        path = found
    if not path.exists():
        raise TableError(f"{path}: table file not found")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise TableError(f"{path}: unknown table format {path.suffix!r}; use one of {', '.join(sorted(READERS))}")
    try:
        df = reader(path)
    except Exception as exc:  # the library's own message, but with the file named
        raise TableError(f"{path}: could not be read as {path.suffix[1:].upper()}: {exc}") from exc
    if len(df.columns) == 0:
        raise TableError(f"{path}: the table has no columns")
    df.columns = [str(c) for c in df.columns]
    return Table(df.reset_index(drop=True), Path(base_dir or path.parent).resolve(), str(path))


def resolve_path(value: str, base_dir: Path) -> Path:
    """A cell's path: `~` expanded, relative paths taken from the table's folder."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else base_dir / p
