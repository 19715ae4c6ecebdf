"""Reading a user's table: CSV, TSV, Parquet, JSONL, Arrow/Feather, a pandas DataFrame, a Hugging Face
`datasets` Dataset, DatasetDict or `save_to_disk` folder (splits become the `split` column), or webdataset tar
shards (data/webdataset.py). Media given as bytes (datasets' Image and Audio columns, tar members) are stored as
files and their cells become paths (data/blobs.py)."""

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
    ".arrow": lambda p: _arrow(p).to_pandas(),
    ".feather": lambda p: _arrow(p).to_pandas(),
    ".ipc": lambda p: _arrow(p).to_pandas(),
}
SPLIT_NAMES = {"validation": "val", "valid": "val", "dev": "val"}  # datasets' split names -> the split column's


def _arrow(path: Path):
    """An Arrow IPC file (Feather v2), or an Arrow stream (what `datasets` writes)."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        try:
            return pa.ipc.open_file(source).read_all()
        except pa.ArrowInvalid:
            source.seek(0)
            return pa.ipc.open_stream(source).read_all()


def _hf_folder(path: Path) -> pd.DataFrame | None:
    """A `datasets` `save_to_disk` folder: one Dataset (state.json lists its Arrow files), or a DatasetDict
    (dataset_dict.json lists its splits, one such folder each)."""
    import json

    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text())["splits"]
        parts = [_hf_folder(path / s).assign(split=SPLIT_NAMES.get(s, s)) for s in splits]
        return pd.concat(parts, ignore_index=True)
    if (path / "state.json").exists():
        files = json.loads((path / "state.json").read_text())["_data_files"]
        return pd.concat([_arrow(path / f["filename"]).to_pandas() for f in files], ignore_index=True)
    return None


def _hf_object(source) -> pd.DataFrame | None:
    """A `datasets.Dataset` or `DatasetDict` object (duck-typed: polymodal does not need `datasets`)."""
    kind = type(source).__name__
    if kind == "DatasetDict" and hasattr(source, "items"):
        return pd.concat([_hf_object(d).assign(split=SPLIT_NAMES.get(s, s)) for s, d in source.items()],
                         ignore_index=True)
    if kind == "Dataset" and hasattr(source, "to_pandas") and hasattr(source, "features"):
        return source.to_pandas()  # media stay {bytes, path} structs: to_pandas does not decode them
    return None


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
    from .blobs import spill

    if isinstance(source, pd.DataFrame):
        return Table(spill(source.reset_index(drop=True)), Path(base_dir or Path.cwd()).resolve(), "<DataFrame>")
    hf = None if isinstance(source, str | Path) else _hf_object(source)
    if hf is not None:
        return Table(spill(hf), Path(base_dir or Path.cwd()).resolve(), f"<{type(source).__name__}>")
    from .webdataset import expand, is_webdataset, read_webdataset

    if is_webdataset(source):  # tar shards, a path or a brace pattern: train-{0000..0015}.tar
        df = read_webdataset(source)
        return Table(spill(df), Path(base_dir or expand(str(source))[0].parent).resolve(), str(source))
    path = Path(source).expanduser()
    if path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists()):
        try:
            df = _hf_folder(path)
        except Exception as exc:
            raise TableError(f"{path}: could not be read as a Hugging Face datasets folder: {exc}") from exc
        return Table(spill(df), Path(base_dir or path).resolve(), str(path))
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
    return Table(spill(df.reset_index(drop=True)), Path(base_dir or path.parent).resolve(), str(path))


def resolve_path(value: str, base_dir: Path) -> Path:
    """A cell's path: `~` expanded, relative paths taken from the table's folder."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else base_dir / p
