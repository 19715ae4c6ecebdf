"""Feature extraction in shards, for any launcher: `polymodal features extract TABLE --shard i/N --out DIR`.

Extraction is embarrassingly parallel, so it needs no process group: shard i of N takes the table's rows
[n*i/N, n*(i+1)/N) (row ranges, not Parquet row groups: uneven groups gave one shard 65% of the rows), and
`--shard` defaults from torchrun's RANK/WORLD_SIZE or a SLURM array's task id and count. Each shard:

- computes its rows' features into the content-addressed feature cache (encoders/cache.py), which takes
  concurrent writers and keeps every finished batch, so a killed shard started again computes only the rest;
- writes, per column, one row-aligned Arrow IPC file `DIR/<column>/part-<i>-of-<N>.arrow` (columns `row`,
  `present`, `features` as a fixed-size list of float32) atomically, memory-mappable by later readers;
- records itself done in `DIR/shards/<i>-of-<N>.json` (rows, seconds, computed and cached entries per column).

`DIR/manifest.json` names the table, its row count, the shard count and each column's encoder; a shard that
finds another manifest there (another table, other encoders, another N) refuses to mix into it.
`features_status(DIR)` reports the progress. Caches filled on several machines merge by copying their shard
files (`merge_caches`): shard names are unique and a key found twice holds the same value.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import PolymodalError
from ..runs.files import atomic_write, read_json, write_json

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def rows(self, n: int) -> range:
        return range(n * self.index // self.count, n * (self.index + 1) // self.count)

    @property
    def name(self) -> str:
        return f"{self.index:05d}-of-{self.count:05d}"


def parse_shard(text: str | None) -> Shard:
    """"i/N" (i counted from 0); None: from RANK/WORLD_SIZE (torchrun), else a SLURM array's task id and count,
    else the whole table."""
    if text is None:
        env = os.environ
        if env.get("WORLD_SIZE") not in (None, "", "1"):
            text = f"{env.get('RANK', '0')}/{env['WORLD_SIZE']}"
        elif env.get("SLURM_ARRAY_TASK_COUNT"):
            first = int(env.get("SLURM_ARRAY_TASK_MIN", "0") or 0)
            text = f"{int(env.get('SLURM_ARRAY_TASK_ID', first)) - first}/{env['SLURM_ARRAY_TASK_COUNT']}"
        else:
            return Shard()
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise PolymodalError(f"--shard {text!r}: expected i/N, such as 0/4 (shards are counted from 0)") from None
    if count < 1 or not 0 <= index < count:
        raise PolymodalError(f"--shard {text!r}: needs N >= 1 and 0 <= i < N (shards are counted from 0)")
    return Shard(index, count)


@dataclass
class ShardReport:
    shard: Shard
    rows: int
    seconds: float
    columns: dict[str, dict]  # column -> encoder id, dim, computed, cached, part file


def _encoders(table, schema, columns: list[str] | None, spec: dict[str, str]):
    from .materialize import choose_encoders, is_cached

    inputs = [c for c, role in schema.modalities.items() if role in ("image", "audio", "text", "video")]
    columns = columns or inputs
    unknown = [c for c in columns if c not in schema.modalities]
    if unknown:
        raise PolymodalError(f"{table.source}: no input column(s) {', '.join(unknown)}; inputs: "
                             f"{', '.join(schema.modalities) or 'none'}")
    encoders = choose_encoders(schema, columns, spec)
    learned = [f"{c} ({e.name})" for c, e in encoders.items() if not is_cached(e)]
    if learned:
        raise PolymodalError("only frozen pretrained encoders have features to extract; trained with the model: "
                             + ", ".join(learned) + ". Choose a pretrained encoder with --encoders, or leave the "
                             "column out with --columns")
    return encoders


def _manifest(out: Path, source: str, rows: int, shard: Shard, encoders: dict) -> None:
    """Write the folder's manifest, or check the one there describes the same extraction."""
    mine = {"table": str(Path(source).resolve()) if source != "<DataFrame>" else source,
            "rows": rows, "shards": shard.count,
            "columns": {c: {"encoder": e.id, "dim": e.out_dim} for c, e in sorted(encoders.items())}}
    path = out / MANIFEST
    if path.exists():
        there = read_json(path)
        changed = [k for k in mine if there.get(k) != mine[k]]
        if changed:
            raise PolymodalError(f"{out}: holds another extraction ({', '.join(changed)} differ: "
                                 + "; ".join(f"{k} {there.get(k)!r} there, {mine[k]!r} here" for k in changed)
                                 + "); use another --out")
        return
    write_json(path, mine)


class PartWriter:
    """One part file written record batch by record batch into a temporary file, renamed into place by `commit`
    (readers never see half a part); `abort` removes the temporary file of a part that was not committed."""

    def __init__(self, path: Path):
        import tempfile

        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        self.tmp, self._sink, self._writer = Path(name), None, None

    def write(self, rows: range, present: np.ndarray, features: np.ndarray) -> None:
        import pyarrow as pa

        flat = pa.array(np.ascontiguousarray(features, dtype=np.float32).reshape(-1))
        batch = pa.record_batch({"row": pa.array(np.arange(rows.start, rows.stop, dtype=np.int64)),
                                 "present": pa.array(np.asarray(present, dtype=bool)),
                                 "features": pa.FixedSizeListArray.from_arrays(flat, features.shape[1])})
        if self._writer is None:
            self._sink = pa.OSFile(str(self.tmp), "wb")
            self._writer = pa.ipc.new_file(self._sink, batch.schema)
        self._writer.write_batch(batch)

    def commit(self) -> Path:
        if self._writer is None:
            raise PolymodalError(f"{self.path}: no rows to write")
        self._writer.close()
        self._sink.close()
        self._writer = None
        os.chmod(self.tmp, 0o644)
        atomic_write(self.path, lambda tmp: os.replace(self.tmp, tmp), durable=True)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None
        self.tmp.unlink(missing_ok=True)


def _write_part(path: Path, chunks: Iterator[tuple[range, np.ndarray, np.ndarray]]) -> None:
    """One part file from `(rows, present, features)` chunks, each a record batch, atomically: written as the chunks
    come (memory follows one chunk), renamed into place once all are in."""
    writer = PartWriter(path)
    try:
        for rows, present, features in chunks:
            writer.write(rows, present, features)
        writer.commit()
    finally:
        writer.abort()


def write_extraction(out: Path, manifest: dict, shard: Shard, rows: int, seconds: float) -> None:
    """The manifest and a finished shard's record of an extraction written by another pass over the table (a
    streamed fit's, predict/streamed.py), so `finished_parts` and `MappedData.from_extraction` read it."""
    write_json(out / MANIFEST, manifest)
    write_json(out / "shards" / f"{shard.name}.json", {"index": shard.index, "count": shard.count,
                                                        "rows": [0, rows], "seconds": round(seconds, 3),
                                                        "columns": {}})


def part_chunks(path: str | Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, present, features [n, D]) of each record batch of one part file; the features are read-only views of
    the memory-mapped file (pages are read when rows are used), which stays mapped while the arrays live."""
    import pyarrow as pa

    reader = pa.ipc.open_file(pa.memory_map(str(path)))
    out = []
    for i in range(reader.num_record_batches):
        batch = reader.get_batch(i)
        feats = batch.column("features")
        out.append((batch.column("row").to_numpy(), batch.column("present").to_numpy(zero_copy_only=False),
                    feats.flatten().to_numpy().reshape(-1, feats.type.list_size)))
    return out


def read_part(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, present, features [n, D]) of one part file, its chunks joined (a copy when there are several; see
    `part_chunks` for views)."""
    chunks = part_chunks(path)
    if len(chunks) == 1:
        return chunks[0]
    return tuple(np.concatenate([c[k] for c in chunks]) for k in range(3))


class _Source:
    """The rows an extraction reads: a Parquet file or folder streamed in row ranges (data/stream.py), anything
    else read whole (it fits in memory, or `read_table` could not have read it)."""

    def __init__(self, source, sample_rows: int, batch_rows: int):
        from ..data.stream import StreamTable, parquet_path
        from ..data.table import read_table
        from ..schema import detect_schema

        path = parquet_path(source)
        if path is not None:
            self.stream, self.table = StreamTable(path, batch_rows=batch_rows), None
            sample = self.stream.sample(sample_rows)
            self.rows, self.source, self.base_dir = len(self.stream), str(path), self.stream.base_dir
        else:
            self.stream, self.table = None, read_table(source)
            sample = self.table
            self.rows, self.source, self.base_dir = len(self.table), self.table.source, self.table.base_dir
        self.sample = sample
        self.schema = detect_schema(sample)

    def batches(self, column: str, rows: range) -> Iterator:
        if self.stream is not None:
            yield from self.stream.batches(columns=[column], rows=rows)
        else:
            df = self.table.df.iloc[rows.start:rows.stop]
            yield replace(self.table, df=df.set_axis(pd.RangeIndex(rows.start, rows.stop)))


def extract_shard(source, *, columns: list[str] | None = None, encoders: dict[str, str] | None = None,
                  shard: Shard | None = None, out: str | Path | None = None, cache=None,
                  progress: bool = True, sample_rows: int = 10_000, batch_rows: int = 65_536) -> ShardReport:
    """Features of shard `shard` of `source`'s rows, for `columns` (default: every image, audio, text and
    video column), into the cache and, with `out`, into row-aligned Arrow parts (see the module's doc). A Parquet
    source is streamed `batch_rows` rows at a time (its schema detected on its first `sample_rows` rows), so memory
    follows one batch."""
    from tqdm.auto import tqdm

    from .cache import FeatureCache
    from .materialize import cell_values

    if batch_rows < 1:
        raise PolymodalError(f"batch_rows must be at least 1, got {batch_rows}")
    started = time.perf_counter()
    shard = shard or Shard()
    src = _Source(source, sample_rows, batch_rows)
    chosen = _encoders(src.sample, src.schema, columns, encoders or {})
    cache = cache or FeatureCache()
    out = Path(out) if out is not None else None
    if out is not None:
        _manifest(out, src.source, src.rows, shard, chosen)
    rows = shard.rows(src.rows)
    done: dict[str, dict] = {}
    for column, encoder in sorted(chosen.items()):
        stats = {"encoder": encoder.id, "dim": encoder.out_dim, "computed": 0, "cached": 0, "absent": 0}
        bar = tqdm(total=len(rows), desc=f"{column} ({encoder.name})", unit="row", leave=False,
                   disable=not progress or not sys.stderr.isatty() or src.stream is None)

        def chunks(column=column, encoder=encoder, stats=stats, bar=bar):
            if not len(rows):  # an empty shard (more shards than rows) still leaves its part, row-aligned
                yield rows, np.zeros(0, bool), np.zeros((0, encoder.out_dim), np.float32)
                return
            for part in src.batches(column, rows):
                values = cell_values(part, column, src.schema.modalities[column])
                feats, present = cache.extract(encoder, values, base_dir=src.base_dir, progress=progress and
                                               src.stream is None, share_ranks=False)
                for key in ("computed", "cached", "absent"):
                    stats[key] += getattr(cache.last, key)
                stats["dim"] = int(feats.shape[1])
                bar.update(len(values))
                yield range(int(part.df.index[0]), int(part.df.index[0]) + len(values)), present, feats

        part = None
        try:
            if out is not None:
                part = out / column / f"part-{shard.name}.arrow"
                _write_part(part, chunks())
            else:
                for _ in chunks():
                    pass
        finally:
            bar.close()
        done[column] = {**stats, "part": str(part.relative_to(out)) if part is not None else None}
    report = ShardReport(shard, len(rows), time.perf_counter() - started, done)
    if out is not None:
        write_json(out / "shards" / f"{shard.name}.json", {"index": shard.index, "count": shard.count,
                                                            "rows": [rows.start, rows.stop],
                                                            "seconds": round(report.seconds, 3), "columns": done})
    return report


def features_status(out: str | Path) -> dict:
    """Progress of a sharded extraction: shards done of the count, rows done of the table's, per-shard rows/s."""
    out = Path(out)
    if not (out / MANIFEST).exists():
        raise PolymodalError(f"{out}: no {MANIFEST}; not an extraction folder (polymodal features extract "
                             "TABLE --out DIR writes one)")
    manifest = read_json(out / MANIFEST)
    shards = [read_json(p) for p in sorted((out / "shards").glob("*.json"))]
    shards = [s for s in shards if s.get("count") == manifest["shards"]]
    rows = sum(s["rows"][1] - s["rows"][0] for s in shards)
    missing = sorted(set(range(manifest["shards"])) - {s["index"] for s in shards})
    return {"table": manifest["table"], "rows": manifest["rows"], "rows_done": rows, "shards": manifest["shards"],
            "shards_done": len(shards), "missing": missing, "columns": manifest["columns"],
            "per_shard": [{"index": s["index"], "rows": s["rows"][1] - s["rows"][0], "seconds": s["seconds"],
                           "rows_per_s": round((s["rows"][1] - s["rows"][0]) / max(s["seconds"], 1e-9), 1),
                           "computed": sum(c["computed"] for c in s["columns"].values())} for s in shards]}


def finished_parts(out: str | Path, column: str) -> tuple[dict, list[Path]]:
    """The status and `column`'s part files, in row order, of an extraction whose every shard is done."""
    status = features_status(out)
    if status["missing"]:
        raise PolymodalError(f"{out}: shard(s) {', '.join(map(str, status['missing']))} of {status['shards']} "
                             "are not done yet")
    parts = sorted((Path(out) / column).glob("part-*.arrow"))
    if not parts:
        raise PolymodalError(f"{out}: no features of column {column!r}; columns: {', '.join(status['columns'])}")
    return status, parts


def read_features(out: str | Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """A finished extraction's features `[rows, D]` and presence of `column`, its parts in row order."""
    read = [read_part(p) for p in finished_parts(out, column)[1]]
    return np.concatenate([r[2] for r in read]), np.concatenate([r[1] for r in read])


def merge_caches(source: str | Path, into: str | Path | None = None) -> int:
    """Copy the feature-cache shard files of `source` (another machine's cache folder) that `into` (default:
    this machine's cache) lacks; returns the number copied. Safe beside running extractions: each file is
    copied under a temporary name, then renamed."""
    from .cache import cache_root

    source, into = Path(source).expanduser(), Path(into).expanduser() if into is not None else cache_root()
    if not source.is_dir():
        raise PolymodalError(f"{source}: not a folder (pass another machine's feature cache, such as "
                             "~/.cache/polymodal/features copied over)")
    copied = 0
    for meta in sorted(source.glob("*/encoder.json")):
        target = into / meta.parent.name
        for file in [meta, *sorted(meta.parent.glob("shard-*.safetensors"))]:
            if not (target / file.name).exists():
                atomic_write(target / file.name, lambda tmp, f=file: shutil.copyfile(f, tmp))
                copied += 1 if file.name.startswith("shard-") else 0
    return copied
