"""The feature cache: frozen-encoder features on disk, computed once, reused by every run.

Layout under `$POLYMODAL_HOME/features/` (one folder per encoder and weights):

    <name>-<hash of encoder id + weights>/
        encoder.json                      the encoder id, its weights hash, the feature size
        shard-<time>-<random>.safetensors  "features" [n, D]; metadata "keys": the n input hashes

Features are stored as float32, or in the encoder's `cache_dtype` where it declares one (token
grids are big: float16 halves them); `extract` always returns float32.

An entry's key is the sha1 of the input's content: the file's bytes for media, the
normalised string for text; so renaming or copying a file costs nothing, and identical
inputs are computed once. Shards are immutable and written atomically (temp file, then
`os.replace`); the index is read from their headers. A killed extraction loses at most
the rows since the last shard (`shard_rows` rows or `flush_seconds`); an interrupted
one (an exception, Ctrl-C) keeps every finished batch. Either way the next call
computes only what is missing. Concurrent writers are safe: they write different
shards, and a key found twice has the same value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file
from tqdm.auto import tqdm

from ..data.validate import is_missing
from ..errors import PolymodalError
from ..paths import home
from ..runs.files import storage_error
from ..runs.lock import is_stale, release, take
from ..training.distributed import World, barrier, check_same, world
from .base import Encoder
from .keytable import KeyTable
from .onnx_runtime import FastForward, cores, fast_forward, pixel_loader, weights_digest

SHARD_ROWS = 1024  # rows per shard: few files for big tables, little lost when killed
FLUSH_SECONDS = 30.0  # ... or write what is done at least this often (slow encoders)
CHUNK_ROWS = 65_536  # rows per chunk of extract_iter: the features of one chunk are in memory at a time
COMPACT_AT = 64  # merge small shards (tails of many small calls) once there are this many
STALE_TMP_SECONDS = 3600.0
# Rows per encoder call. Files: 8. Several one-core calls run at once (onnx_runtime.py), and ONNX Runtime's arena
# keeps each call's peak activations, so memory grows with the batch while speed does not: 2,000 images through
# EfficientNet-Lite0 took 14.1 s and 832 MB of peak RSS at 8 rows, 17.3 s and 1,886 MB at 32 (its 4x4 token grid:
# 15.5 s and 962 MB at 8, 16 rows 1,193 MB, 32 rows 1,629 MB). Text: 32, one call at a time on all cores.
FILE_BATCH, TEXT_BATCH = 8, 32


def cache_root() -> Path:
    return home() / "features"


def own_share(todo: dict[str, Any], index: int, count: int) -> dict[str, Any]:
    """Shard `index` of `count` of the inputs to compute: a contiguous range of them, in order of their keys, so
    every process that sees the same missing inputs takes a different part and none is computed twice."""
    keys = sorted(todo)
    lo, hi = len(keys) * index // count, len(keys) * (index + 1) // count
    return {k: todo[k] for k in keys[lo:hi]}


def is_absent(value: Any) -> bool:
    """None, NaN, pandas NA and blank strings are absent cells (zero features, present False)."""
    return is_missing(value) or (isinstance(value, str) and not value.strip())


def file_key(path: Path) -> str:
    h = hashlib.sha1(b"file\0")
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def text_key(text: str) -> str:
    return hashlib.sha1(b"text\0" + text.encode("utf-8")).hexdigest()


@dataclass
class ExtractStats:
    """What the last `extract` did."""

    rows: int = 0
    absent: int = 0
    cached: int = 0
    computed: int = 0
    backend: str = ""
    seconds: float = 0.0


# ---------------------------------------------------------------- one encoder's shards


class ShardStore:
    """The shards of one encoder (one folder), and their key table (encoders/keytable.py)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.table = KeyTable(folder)

    def shards(self) -> list[Path]:
        return sorted(self.folder.glob("shard-*.safetensors")) if self.folder.is_dir() else []

    @staticmethod
    def keys(shard: Path) -> list[str]:
        with safe_open(str(shard), framework="numpy") as f:
            return json.loads(f.metadata()["keys"])

    def sync(self) -> None:
        """The key table brought up to the shard files now on disk (new ones added, removed ones dropped)."""
        if self.folder.is_dir():
            self.table.sync(self.shards(), self.keys)

    def lookup(self, keys: Iterable[str]) -> dict[str, tuple[Path, int]]:
        """key -> (shard, row) for the `keys` that are cached. The oldest shard wins when a key was written twice."""
        self.sync()
        return {k: (self.folder / name, row) for k, (name, row) in self.table.lookup(keys).items()}

    def entries(self) -> int:
        """Distinct inputs cached."""
        self.sync()
        return self.table.count()

    def write(self, keys: Sequence[str], features: np.ndarray, dtype: str = "float32") -> Path:
        """One new shard, atomically: readers see all of it or none of it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.safetensors"
        tmp = self.folder / f".tmp-{final.name}"
        try:
            save_file({"features": np.ascontiguousarray(features, dtype=dtype)}, str(tmp),
                      metadata={"keys": json.dumps(list(keys))})
            os.replace(tmp, final)
        except Exception as exc:  # a full disk or a read-only cache: named, the shards written before are kept
            named = storage_error(exc, final)
            if named is None:
                raise
            raise named from exc
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def load(self, shard: Path) -> np.ndarray:
        with safe_open(str(shard), framework="numpy") as f:
            return f.get_tensor("features")

    def gather(self, keys: Sequence[str], fresh: dict[str, np.ndarray], dim: int) -> np.ndarray:
        """Features of `keys`, from `fresh` (just computed) or from the shards."""
        out = np.zeros((len(keys), dim), np.float32)
        need = [i for i, k in enumerate(keys) if k not in fresh]
        for i, k in enumerate(keys):
            if k in fresh:
                out[i] = fresh[k]
        for attempt in range(2):  # a second pass if a concurrent compaction moved rows meanwhile
            index, by_shard = self.lookup(keys[i] for i in need), {}
            absent = [keys[i] for i in need if keys[i] not in index]
            if absent:
                raise PolymodalError(f"{self.folder}: {len(absent)} input(s) were to be computed but are not in the "
                                     f"cache (first key {absent[0]}); another process may have cleared it meanwhile. "
                                     "Run again: what is there is kept")
            for i in need:
                shard, row = index[keys[i]]
                by_shard.setdefault(shard, []).append((i, row))
            try:
                for shard, pairs in by_shard.items():
                    data = self.load(shard)
                    if data.shape[1] != dim:
                        raise PolymodalError(f"{shard}: features of size {data.shape[1]}, expected {dim}; "
                                             f"clear this cache folder ({self.folder})")
                    rows, pos = [p[0] for p in pairs], [p[1] for p in pairs]
                    out[rows] = data[pos]
                return out
            except FileNotFoundError:
                if attempt:
                    raise
        return out

    def compact(self, shard_rows: int) -> None:
        """Merge small shards into shards of up to `shard_rows` rows (new first, then drop the old), by one process
        at a time: the others skip it while `compact.lock` is held (a dead holder's lock on this machine is taken
        over), so concurrent extractions never merge the same shards twice."""
        self.sync()
        sizes = self.table.shard_rows()
        small = [s for s in self.shards() if sizes.get(s.name, shard_rows) < shard_rows]
        if len(small) < COMPACT_AT:
            return
        lock = self.folder / "compact.lock"
        if not take(lock):
            if not is_stale(lock, older_than=STALE_TMP_SECONDS):  # a compaction takes seconds
                return
            release(lock)
            if not take(lock):
                return
        try:
            group: list[Path] = []
            for shard in [*small, None]:
                rows = sum(sizes[s.name] for s in group)
                if group and (shard is None or rows + sizes[shard.name] > shard_rows):
                    if len(group) > 1:
                        keys = [k for s in group for k in self.keys(s)]
                        data = [self.load(s) for s in group]
                        self.write(keys, np.concatenate(data), dtype=str(data[0].dtype))
                        for s in group:
                            s.unlink(missing_ok=True)
                    group = []
                if shard is not None:
                    group.append(shard)
            self.sync()
        finally:
            release(lock)

    def remove_stale_tmp(self) -> None:
        """Temp files of writers killed mid-write (old enough that no live writer owns them)."""
        for tmp in self.folder.glob(".tmp-*"):
            with contextlib.suppress(FileNotFoundError):
                if time.time() - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                    tmp.unlink()


# ---------------------------------------------------------------- decoding ahead of the encoder


def _one_torch_thread() -> None:
    # Torch ops in a decoding thread would each start a team of OpenMP threads (which then
    # spin) and take cores from the encoder; the threads themselves are the parallelism.
    # The setting is per thread: the main thread keeps all its threads.
    torch.set_num_threads(1)


def prefetch(chunks: Iterable[Any], decode: Callable[[Any], Any], workers: int) -> Iterator[tuple[Any, Any]]:
    """Yield `(chunk, decode(chunk))` in order while up to 2*workers later chunks decode in threads.

    PIL, numpy and torch release the GIL while they decode and resize, so threads keep
    the next batches ready while the encoder (ONNX Runtime or torch, GIL released too) runs.
    """
    if workers <= 0:
        for chunk in chunks:
            yield chunk, decode(chunk)
        return
    it = iter(chunks)
    with ThreadPoolExecutor(workers, thread_name_prefix="polymodal-decode", initializer=_one_torch_thread) as pool:
        window = deque((c, pool.submit(decode, c)) for c in islice(it, 2 * workers))
        try:
            while window:
                chunk, future = window.popleft()
                batch = future.result()
                nxt = next(it, None)
                if nxt is not None:
                    window.append((nxt, pool.submit(decode, nxt)))
                yield chunk, batch
        finally:
            for _, future in window:
                future.cancel()


def encode_ahead(chunks: Sequence[Any], decode: Callable[[Any], Any], fast: FastForward,
                 workers: int) -> Iterator[tuple[Any, np.ndarray]]:
    """Yield `(chunk, features)` in order, keeping every core busy.

    On ONNX Runtime each thread takes whole chunks: decode, then a one-thread forward, so
    while one core decodes another computes, and no decoding thread can stall the
    encoder's fork-join loops. The first chunk's forward runs alone on all cores (it may
    export the model and it checks parity); the others decode meanwhile and wait for it.
    On PyTorch, `workers` threads decode ahead while the encoder runs batch after batch.
    """
    if workers <= 0 or fast.backend == "torch" or cores() < 2:
        for chunk, batch in prefetch(chunks, decode, workers):
            yield chunk, fast(batch)
        return
    first_done = threading.Event()

    def task(item: tuple[int, Any]) -> np.ndarray:
        i, chunk = item
        batch = decode(chunk)
        if i == 0:
            try:
                return fast(batch)
            finally:
                first_done.set()
        first_done.wait()
        return fast.single(batch)

    # one thread more than cores: a core never idles while a thread waits on a file or the GIL
    for (_, chunk), out in prefetch(list(enumerate(chunks)), task, max(workers, cores() + 1)):
        yield chunk, out


# ---------------------------------------------------------------- the cache


class FeatureCache:
    """Features of frozen encoders on disk. `extract` is the one entry point that fills it."""

    def __init__(self, root: str | Path | None = None, *, shard_rows: int = SHARD_ROWS,
                 flush_seconds: float = FLUSH_SECONDS):
        self.root = Path(root).expanduser() if root is not None else cache_root()
        self.shard_rows, self.flush_seconds = int(shard_rows), float(flush_seconds)
        self.last = ExtractStats()

    def store(self, encoder: Encoder, digest: str | None = None) -> ShardStore:
        """The encoder's folder; its name hashes the id *and* the weights, so fine-tuned weights never
        read features of the original ones."""
        digest = digest or weights_digest(encoder)
        key = hashlib.sha1(f"{encoder.id}|{digest}".encode()).hexdigest()[:16]
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in encoder.name) or "encoder"
        folder = self.root / f"{slug}-{key}"
        if not (folder / "encoder.json").exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".tmp-encoder-{uuid.uuid4().hex[:8]}.json"
            tmp.write_text(json.dumps({"id": encoder.id, "weights": digest, "dim": encoder.out_dim}, indent=1))
            os.replace(tmp, folder / "encoder.json")
        return ShardStore(folder)

    def extract(self, encoder: Encoder, values: Sequence[Any], *, base_dir: str | Path | None = None,
                batch_size: int | None = None, workers: int = 2, progress: bool = True,
                backend: str = "auto", view: tuple[str, Callable[[Any, list[str]], Any]] | None = None,
                share_ranks: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Features `[N, D]` float32 of `values` (paths or strings) and `present` bool `[N]`.

        Absent cells (None, NaN, blank) get zero rows and present False. `batch_size`: rows per
        encoder call (default `FILE_BATCH` for files, `TEXT_BATCH` for strings). Relative paths
        resolve against `base_dir` (default: the working directory). Cached inputs are read
        back; the rest are decoded by `workers` threads ahead of the encoder, which runs
        through ONNX Runtime when it can (`backend`, see `fast_forward`).

        `view`: (name, transform) for features of transformed inputs (training/augment.py's cached views):
        the transform gets each decoded batch (uint8 pixels `[B, H, W, 3]`, the loader's tensors, or strings)
        and the items' content keys, and returns the batch transformed. A view's entries live in a folder of
        their own, named from the encoder *and* the view, so its features never mix with the plain ones.

        `share_ranks`: under torchrun, where every rank extracts the same values, each computes a share of the
        missing inputs and waits for the others' (training/distributed.py). False: this process computes all
        its values alone (sharded extraction, encoders/sharded.py, gives each process other rows).
        """
        if encoder.mode != "frozen":
            raise PolymodalError(f"{encoder.name}: only a frozen encoder's features can be cached "
                                 f"(mode is {encoder.mode!r}); use encoder.set_mode('frozen')")
        t0 = time.perf_counter()
        values = list(values)
        present = np.array([not is_absent(v) for v in values], dtype=bool)
        rows = np.flatnonzero(present)
        loader = encoder.loader()
        inputs, keys = self._keyed_inputs([values[i] for i in rows], rows, loader,
                                          Path(base_dir or Path.cwd()), workers)
        digest = weights_digest(encoder)
        store = self.store(encoder, digest if view is None else f"{digest}|view:{view[0]}")
        w = world() if share_ranks else World()
        barrier(w)  # under torchrun: every rank reads the index after the same point, so all see the same gaps
        known = store.lookup(keys)
        todo = {k: x for k, x in zip(keys, inputs, strict=True) if k not in known}  # dict: duplicates once
        if w.active:  # every rank extracts the same table: each computes a share of what is missing
            check_same(f"{encoder.name}: the inputs missing from the feature cache", len(todo), w)
            todo = own_share(todo, w.rank, w.size)
        self.last = ExtractStats(rows=len(values), absent=int((~present).sum()), computed=len(todo),
                                 cached=len(set(keys)) - len(todo))
        # Image encoders get uint8 pixels and normalise inside their graph (onnx_runtime.py says why).
        pixels = not isinstance(loader.empty(), str) and pixel_loader(encoder) is not None
        fast = fast_forward(encoder, backend=backend, digest=digest, pixels=pixels) if todo else None
        batch_size = batch_size or (TEXT_BATCH if isinstance(loader.empty(), str) else FILE_BATCH)
        fresh = self._compute(encoder, fast, store, todo, loader, batch_size, workers, progress,
                              None if view is None else view[1])
        barrier(w)  # the other ranks' shares are on disk now
        dim = next(iter(fresh.values())).shape[0] if fresh else encoder.out_dim
        gathered = store.gather(keys, fresh, dim)
        # Memory: token features are large (a captioner's 2,000 images: 164 MB a copy), and compaction below
        # loads the new shards again; the fresh rows are in `gathered` now, so they go first.
        del fresh
        if len(rows) == len(values):
            features = gathered
        else:
            features = np.zeros((len(values), dim), np.float32)
            features[rows] = gathered
            del gathered
        with contextlib.suppress(FileNotFoundError):  # another process compacted the same shards first
            store.compact(self.shard_rows)
        self.last.seconds = time.perf_counter() - t0
        return features, present

    def extract_iter(self, encoder: Encoder, values: Iterable[Any], *, chunk_rows: int = CHUNK_ROWS,
                     **options: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """`extract`, streaming: `(features, present)` for each `chunk_rows` values of `values` (any iterable, such
        as a generator over a table's batches), so memory follows one chunk however many rows there are. Every
        chunk's new features are in the cache before it is yielded; `options` are `extract`'s."""
        it = iter(values)
        while chunk := list(islice(it, chunk_rows)):
            yield self.extract(encoder, chunk, **options)

    def _keyed_inputs(self, cells: list[Any], rows: np.ndarray, loader: Any, base_dir: Path,
                      workers: int) -> tuple[list[Any], list[str]]:
        """Normalised strings or resolved paths, and their content keys; every unreadable file listed."""
        if isinstance(loader.empty(), str):  # text-like: the key is the normalised string
            texts = [loader(v) for v in cells]
            return texts, [text_key(t) for t in texts]
        paths, bad = [], []
        for row, v in zip(rows, cells, strict=True):
            p = Path(v).expanduser() if isinstance(v, (str, Path)) else None
            p = None if p is None else (p if p.is_absolute() else base_dir / p)
            if p is None or not p.is_file():
                bad.append(f"row {row}: {'not a file path' if p is None else 'file not found'}: {v!r}")
            paths.append(p)
        if bad:
            more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
            raise PolymodalError(f"{len(bad)} input(s) cannot be read:\n  " + "\n  ".join(bad[:10]) + more)
        with ThreadPoolExecutor(max(1, workers)) as pool:  # hashlib releases the GIL on big reads
            return paths, list(pool.map(file_key, paths))

    def _compute(self, encoder: Encoder, fast: FastForward | None, store: ShardStore, todo: dict[str, Any],
                 loader: Any, batch_size: int, workers: int, progress: bool,
                 transform: Callable[[Any, list[str]], Any] | None = None) -> dict[str, np.ndarray]:
        fresh: dict[str, np.ndarray] = {}
        if fast is None or not todo:
            return fresh
        store.remove_stale_tmp()
        keys, items = list(todo), list(todo.values())
        chunks = [range(i, min(i + batch_size, len(items))) for i in range(0, len(items), batch_size)]
        text = isinstance(loader.empty(), str)
        dtype = getattr(encoder, "cache_dtype", "float32")
        decode = _batch_decoder(items, None if text else fast.pixels or loader, pixels=fast.pixels is not None,
                                keys=keys, transform=transform)
        pending: list[str] = []
        last_flush = time.monotonic()
        bar = tqdm(total=len(items), desc=f"{encoder.name} features", unit="text" if text else "file",
                   disable=not progress or not sys.stderr.isatty(), leave=False)
        try:
            # strings need no decoding to overlap: one call at a time on all cores is faster for text
            for chunk, out in encode_ahead(chunks, decode, fast, 0 if text else workers):
                out = np.asarray(out, dtype=np.float32)
                if out.shape[0] != len(chunk) or out.ndim != 2:
                    raise PolymodalError(f"{encoder.name}: returned features of shape {out.shape} "
                                         f"for a batch of {len(chunk)}")
                if dtype != "float32":  # fresh rows read exactly as they will from the shards later
                    out = out.astype(dtype).astype(np.float32)
                for j, i in enumerate(chunk):
                    fresh[keys[i]] = out[j]
                    pending.append(keys[i])
                if len(pending) >= self.shard_rows or time.monotonic() - last_flush >= self.flush_seconds:
                    store.write(pending, np.stack([fresh[k] for k in pending]), dtype)
                    pending, last_flush = [], time.monotonic()
                bar.update(len(chunk))
        finally:
            bar.close()
            fast.close()  # the sessions' memory goes back; the next extraction opens them again
            self.last.backend = fast.backend
            if pending:  # interrupted or not, finished batches are kept
                store.write(pending, np.stack([fresh[k] for k in pending]), dtype)
        return fresh

    def info(self) -> dict[str, dict[str, int]]:
        """Per encoder id: entries (distinct inputs), bytes on disk, shards."""
        out: dict[str, dict[str, int]] = {}
        for folder, meta in self._folders():
            store = ShardStore(folder)
            shards = store.shards()
            entry = out.setdefault(meta.get("id", folder.name), {"entries": 0, "bytes": 0, "shards": 0})
            entry["entries"] += store.entries()
            entry["bytes"] += sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
            entry["shards"] += len(shards)
        return out

    def clear(self, encoder_id: str | Encoder | None = None) -> int:
        """Remove every entry, or those of one encoder (its id, or its name for all its versions).
        Returns the number of entries removed."""
        target = encoder_id.id if isinstance(encoder_id, Encoder) else encoder_id
        removed = 0
        for folder, meta in self._folders():
            eid = meta.get("id", "")
            if target is None or eid == target or eid.startswith(f"{target}@"):
                removed += ShardStore(folder).entries()
                trash = folder.with_name(f".trash-{uuid.uuid4().hex[:8]}")
                os.replace(folder, trash)  # readers see the whole folder or none of it
                shutil.rmtree(trash, ignore_errors=True)
        return removed

    def _folders(self) -> Iterator[tuple[Path, dict]]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and not folder.name.startswith("."):
                try:
                    meta = json.loads((folder / "encoder.json").read_text())
                except (OSError, ValueError):
                    meta = {}
                yield folder, meta


def _batch_decoder(items: list[Any], loader: Any, pixels: bool, *, keys: list[str] | None = None,
                   transform: Callable[[Any, list[str]], Any] | None = None) -> Callable[[Sequence[int]], Any]:
    """Chunk of item positions -> the encoder's batch: strings as they are (loader None), uint8
    pixels for an encoder that runs from pixels, else the loader's tensors stacked; then `transform`
    (a cached view's), given the items' keys."""
    def decode(chunk: Sequence[int]) -> Any:
        batch = [items[i] for i in chunk]
        if loader is not None:
            batch = _decode_pixels(loader, batch) if pixels else _decode(loader, batch)
        return batch if transform is None else transform(batch, [keys[i] for i in chunk])

    return decode


def _decode(loader: Any, paths: list[Path]) -> torch.Tensor:
    out = []
    for p in paths:
        try:
            out.append(loader(p))
        except Exception as exc:
            raise PolymodalError(f"{p}: could not be decoded: {exc}") from exc
    return torch.stack(out)


def _decode_pixels(loader: Any, paths: list[Path]) -> torch.Tensor:
    """uint8 `[B, H, W, 3]`, written straight into one batch array (no float copies, no stack)."""
    out = None
    for i, p in enumerate(paths):
        try:
            pixels = loader.pixels(p)
        except Exception as exc:
            raise PolymodalError(f"{p}: could not be decoded: {exc}") from exc
        if out is None:
            out = np.empty((len(paths), *pixels.shape), np.uint8)
        out[i] = pixels
    return torch.from_numpy(out)


def extract(encoder: Encoder, values: Sequence[Any], *, base_dir: str | Path | None = None,
            batch_size: int | None = None,
            workers: int = 2, progress: bool = True, backend: str = "auto",
            cache: FeatureCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`FeatureCache().extract(...)` on the default cache (`$POLYMODAL_HOME/features`)."""
    return (cache or FeatureCache()).extract(encoder, values, base_dir=base_dir, batch_size=batch_size,
                                             workers=workers, progress=progress, backend=backend)


def cache_info(root: str | Path | None = None) -> dict[str, dict[str, int]]:
    return FeatureCache(root).info()


def clear_cache(encoder_id: str | Encoder | None = None, root: str | Path | None = None) -> int:
    return FeatureCache(root).clear(encoder_id)
