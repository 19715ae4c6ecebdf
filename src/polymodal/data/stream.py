"""Tables larger than memory: read in batches with pyarrow, never whole.

- `convert(src, dst)`: a CSV/TSV (streamed with pyarrow's CSV reader) or a Parquet file of badly sized row
  groups becomes a Parquet file with row groups of `row_group_rows` rows, written once, so later passes can
  stream and be sharded (`polymodal table convert`).
- `StreamTable`: a Parquet file or folder (`pyarrow.dataset`) read `batch_rows` rows at a time, each batch a
  `Table` of those rows with their row numbers as its index; `sample` reads the first row groups only, which
  is what schema detection looks at.
- `hash_split`: the split of a row from a stable hash of its id (or of its row number when there is no id
  column), so a row is in the same split however the table is cut into batches or shards, and in every
  process. 70/15/15 by default, like the seeded split of small tables.
- `scan(path, label=...)`: the whole table once, batch by batch: schema from the sample, every batch
  validated (`data/validate.py`, policy "skip") with the skipped rows appended to `skipped.csv` under their
  own row numbers, split and label counts. Peak memory follows the batch size, not the row count
  (benchmarks/bench_stream.py measures it at 1M and 4M rows).

Measured on this machine kind before this was written: pandas' whole read of 1M and 4M rows peaked at 439 and
1,378 MiB; pyarrow streaming at 204 and 305 MiB.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import PolymodalError, TableError
from .blobs import spill
from .table import Table

BATCH_ROWS = 65_536
ROW_GROUP_ROWS = 100_000
SPLITS = (("train", 0.70), ("val", 0.15), ("test", 0.15))


def convert(src: str | Path, dst: str | Path, *, row_group_rows: int = ROW_GROUP_ROWS) -> dict:
    """Rewrite `src` (CSV, TSV or Parquet) as Parquet with `row_group_rows`-row groups, streaming; atomic."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from ..runs.files import atomic_write

    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    if not src.exists():
        raise TableError(f"{src}: table file not found")
    suffix = src.suffix.lower()
    if suffix in (".csv", ".tsv"):
        options = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",", newlines_in_values=True)
        try:
            reader = pacsv.open_csv(src, parse_options=options,
                                    read_options=pacsv.ReadOptions(block_size=16 << 20))
        except pa.ArrowInvalid as exc:
            raise TableError(f"{src}: could not be read as {suffix[1:].upper()}: {exc}") from exc
        batches, schema = reader, reader.schema
    elif suffix in (".parquet", ".pq"):
        source = pq.ParquetFile(src)
        batches, schema = source.iter_batches(batch_size=row_group_rows), source.schema_arrow
    else:
        raise TableError(f"{src}: convert reads CSV, TSV or Parquet, not {suffix!r}")
    rows, started = 0, time.perf_counter()

    def write(tmp: Path) -> None:
        nonlocal rows
        pending: list = []
        with pq.ParquetWriter(str(tmp), schema) as writer:
            for batch in batches:
                pending.append(batch)
                while sum(len(b) for b in pending) >= row_group_rows:
                    table = pa.Table.from_batches(pending)
                    writer.write_table(table.slice(0, row_group_rows), row_group_size=row_group_rows)
                    rest = table.slice(row_group_rows)
                    pending = rest.to_batches() if len(rest) else []
                    rows += row_group_rows
            if pending:
                table = pa.Table.from_batches(pending, schema=schema)
                writer.write_table(table, row_group_size=row_group_rows)
                rows += len(table)

    try:
        atomic_write(dst, write)
    except pa.ArrowInvalid as exc:
        raise TableError(f"{src}: row {rows + 1} or after could not be read: {exc}") from exc
    return {"rows": rows, "row_groups": -(-rows // row_group_rows), "seconds": time.perf_counter() - started}


def parquet_path(data) -> Path | None:
    """`data` as a Parquet file or a folder of Parquet files, else None. A table folder as `read_table` reads it
    (a recipe's: table.parquet or table.csv beside DATACARD.md, schema.yaml and the media) is its table file,
    not a folder of parts."""
    if not isinstance(data, str | Path):
        return None
    path = Path(data).expanduser()
    if path.is_dir():
        if (path / "table.parquet").is_file():
            return path / "table.parquet"
        if any((path / name).is_file() for name in ("table.csv", "table.jsonl")):
            return None
        return path if any(path.glob("*.parquet")) else None
    return path if path.suffix.lower() in (".parquet", ".pq") and path.is_file() else None


class StreamTable:
    """A Parquet file or folder read in batches (see the module's doc)."""

    def __init__(self, path: str | Path, *, batch_rows: int = BATCH_ROWS):
        import pyarrow.dataset as ds

        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise TableError(f"{self.path}: table file not found")
        if self.path.is_file() and self.path.suffix.lower() not in (".parquet", ".pq"):
            raise TableError(f"{self.path}: streaming reads Parquet; convert it first: polymodal table convert "
                             f"{self.path} {self.path.with_suffix('.parquet')}")
        self.dataset = ds.dataset(str(self.path), format="parquet")
        self.batch_rows = batch_rows
        self.base_dir = (self.path if self.path.is_dir() else self.path.parent).resolve()

    def __len__(self) -> int:
        return self.dataset.count_rows()

    @property
    def columns(self) -> list[str]:
        return list(self.dataset.schema.names)

    def batches(self, columns: list[str] | None = None, rows: range | None = None) -> Iterator[Table]:
        """`Table`s of up to `batch_rows` rows, in order; each frame's index is the rows' numbers in the whole table.
        `rows`: only that range of rows (a shard's); row groups wholly outside it are not read."""
        # No read-ahead threads: with pyarrow's threaded scan, peak memory grew with the table (a read-only pass
        # peaked at 310 MiB for 1M rows and 497 MiB for 4M; one thread: 310 and 310). The per-batch work is
        # Python's, so the decoding threads bought little.
        start = 0
        for fragment in self.dataset.get_fragments():
            for group in fragment.split_by_row_group():
                n = group.count_rows()  # from the footer's metadata: nothing decoded
                if rows is not None and (start + n <= rows.start or start >= rows.stop):
                    start += n
                    continue
                for batch in group.to_batches(columns=columns, batch_size=self.batch_rows, batch_readahead=1,
                                              fragment_readahead=1, use_threads=False):
                    lo, hi = start, start + len(batch)
                    start = hi
                    if rows is not None:
                        cut_lo, cut_hi = max(lo, rows.start), min(hi, rows.stop)
                        if cut_lo >= cut_hi:
                            continue
                        batch, lo = batch.slice(cut_lo - lo, cut_hi - cut_lo), cut_lo
                    df = batch.to_pandas()
                    df.index = pd.RangeIndex(lo, lo + len(df))
                    # media bytes (a Hugging Face export's structs) become content-addressed paths, as read_table's
                    yield Table(spill(df), self.base_dir, str(self.path))

    def sample(self, rows: int = 10_000) -> Table:
        """The first `rows` rows (whole row groups are read, nothing more)."""
        parts, got = [], 0
        for table in self.batches():
            parts.append(table.df)
            got += len(table.df)
            if got >= rows:
                break
        df = pd.concat(parts).iloc[:rows].reset_index(drop=True) if parts else pd.DataFrame(columns=self.columns)
        return Table(df, self.base_dir, str(self.path))


def hash_split(keys, *, seed: int = 0, splits=SPLITS) -> np.ndarray:
    """"train"/"val"/"test" per key, from a stable hash of the key (pandas' SipHash of its text, keyed by `seed`):
    the same in every process, batch and shard. Vectorised: 1M keys in about 0.1 s (a Python loop over blake2b
    took 2.3 s)."""
    text = np.asarray(pd.Series(keys).astype(str), dtype=object)
    hashed = pd.util.hash_array(text, hash_key=f"polymodal{seed:07d}"[:16], categorize=False)
    edges = np.cumsum([f for _, f in splits])
    names = np.array([n for n, _ in splits])
    u = (hashed >> np.uint64(11)).astype(np.float64) / 2.0 ** 53  # the top 53 bits: exact in a float
    return names[np.minimum(np.searchsorted(edges, u, side="right"), len(names) - 1)]


@dataclass
class ScanReport:
    rows: int = 0
    kept: int = 0
    skipped_rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    splits: Counter = field(default_factory=Counter)
    labels: Counter = field(default_factory=Counter)
    skipped_file: Path | None = None
    schema: object = None


def scan(path: str | Path, *, label: str | None = None, overrides: dict[str, str] | None = None,
         skipped: str | Path | None = None, batch_rows: int = BATCH_ROWS, seed: int = 0,
         sample_rows: int = 10_000, check_media: bool = True) -> ScanReport:
    """One pass over a large table (see the module's doc). `skipped`: where the problems go (default
    `<table>.skipped.csv`, written only when there are some); `check_media=False` leaves files undecoded."""
    from ..schema import detect_schema
    from .validate import validate

    stream = StreamTable(path, batch_rows=batch_rows)
    schema = detect_schema(stream.sample(sample_rows), label=label, overrides=overrides)
    if label is not None and label not in stream.columns:
        raise PolymodalError(f"{path}: no label column {label!r}; columns: {', '.join(stream.columns)}")
    ids = [c.name for c in schema.columns if c.role == "id"]
    given = "split" in stream.columns and any(c.role == "split" for c in schema.columns)
    out = Path(skipped) if skipped is not None else stream.path.with_name(stream.path.stem + ".skipped.csv")
    out.unlink(missing_ok=True)
    report, started = ScanReport(schema=schema), time.perf_counter()
    for table in stream.batches():
        offset = int(table.df.index[0]) if len(table.df) else 0
        local = Table(table.df.reset_index(drop=True), table.base_dir, table.source)
        checked = schema if check_media else _without_media(schema)
        result = validate(local, checked, on_error="skip", allow_unlabeled=True)
        if result.problems:
            problems = result.skipped.assign(row=result.skipped["row"] + offset)
            problems.to_csv(out, mode="a", header=not out.exists(), index=False)  # appended batch by batch
            report.skipped_file = out
        kept = result.table.df
        kept_rows = np.setdiff1d(np.arange(len(local)), sorted({p.row for p in result.problems})) + offset
        if given:
            names = kept["split"].astype(str).to_numpy()
        else:
            names = hash_split(kept[ids[0]] if ids else kept_rows, seed=seed)
        report.splits.update(names.tolist())
        if label is not None:
            report.labels.update(kept[label].dropna().astype(str).tolist())
        report.rows += len(local)
        report.kept += len(kept)
        report.skipped_rows += len(local) - len(kept)
        report.batches += 1
    report.seconds = time.perf_counter() - started
    return report


def _without_media(schema):
    from dataclasses import replace

    media = ("image", "audio", "video")
    return replace(schema, columns=[replace(c, role="ignore") if c.role in media else c for c in schema.columns])


def generated(path: str | Path, rows: int, *, row_group_rows: int = ROW_GROUP_ROWS) -> Path:
    """A Parquet table of `rows` generated rows (id, a short note, a number, a 5-class label), written in chunks so
    that its size is not limited by memory: what the streaming test and benchmarks/bench_stream.py read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("note", pa.string()), ("size", pa.float64()), ("label", pa.string())])
    with pq.ParquetWriter(str(path), schema) as writer:
        for start in range(0, rows, 500_000):
            i = np.arange(start, min(start + 500_000, rows))
            writer.write_table(pa.table({"id": [f"r{j}" for j in i], "note": [f"note about item {j}" for j in i],
                                         "size": (i % 97) / 7.0, "label": [f"k{j % 5}" for j in i]}, schema=schema),
                               row_group_size=row_group_rows)
    return Path(path)
