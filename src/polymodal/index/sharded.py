"""An index for collections larger than memory: FAISS IVF-PQ (Jégou et al. 2011) built in shards, merged on
disk, and searched with exact re-ranking.

Layout of an index folder:

    index.json                  kind "ivfpq", dim, metric, nlist, m, nbits, the shard count, meta
    trained.faiss               the trained, empty IVF-PQ (one process trains it on a sample: `train`)
    parts/<i>-of-<N>/           one per shard (`add_shard`): index.faiss (its PQ codes, ids = global row ids),
                                vectors.npy (its exact float32 vectors), rows.arrow (its metadata), part.json
    index.faiss + lists.ivfdata the merged index (`merge`: FAISS's `merge_ondisk`, inverted lists on disk)

Why re-rank: PQ codes (m bytes a vector here, about 40 B with ids and list overhead at m=32) keep 100M
vectors in ~4 GiB, but their distances are coarse: at 10M vectors PQ alone found 0.32 of the true top 10
(benchmarks/bench_index_pq.py). The top `rerank * k` PQ hits (1000 for a top 10 by default) are scored again
with the exact vectors, read from the shards' memory-mapped `vectors.npy` (the page cache holds what is used;
nothing is loaded whole), and the best `k` kept. Metadata are read the same way, by row id, from memory-mapped
Arrow files: a search never builds a frame of the whole collection. Row ids are global and dense (shard i's
rows start where shard i-1's stop), so a shard's vectors are found by position.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from ..errors import PolymodalError
from ..runs.files import atomic_write, read_json, write_json
from . import backend

KIND = "ivfpq"
HEADER = "index.json"


def _metric(metric: str) -> int:
    if metric not in backend.METRICS:
        raise PolymodalError(f"metric must be one of {list(backend.METRICS)}, got {metric!r}")
    return backend.METRICS[metric]


def train(folder: str | Path, sample: np.ndarray, *, metric: str = "ip", nlist: int | None = None, m: int = 32,
          nbits: int = 8, shards: int = 1, meta: dict | None = None) -> Path:
    """Train the coarse lists and the product quantizer on `sample` [n, dim] and write the empty index and the
    header. `m` must divide dim; nlist defaults to about 4*sqrt(n), at least 39 sample vectors a list."""
    folder = Path(folder)
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    n, dim = sample.shape
    if dim % m:
        raise PolymodalError(f"m={m} sub-quantizers must divide the dimension {dim}; try one of "
                             + ", ".join(str(d) for d in (8, 16, 32, 64) if dim % d == 0))
    nlist = nlist or backend.default_nlist(n)
    # FAISS's k-means wants 39 points a centroid: per inverted list, and per code of each sub-quantizer
    needed = max(nlist, 2 ** nbits) * backend.IVF_MIN_POINTS_PER_LIST
    if n < needed:
        raise PolymodalError(f"training {nlist} lists and {2 ** nbits} codes a sub-quantizer needs at least "
                             f"{needed} sample vectors; got {n} (pass a larger --train-sample or a smaller --nlist)")
    quantizer = backend.build_flat(dim, metric)
    index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, _metric(metric))
    index.cp.seed = 1234
    started = time.perf_counter()
    with backend.threads():
        index.train(sample)
    # the header first: a shard that sees trained.faiss (its signal to go on) must find the header too
    write_json(folder / HEADER, {"kind": KIND, "dim": dim, "metric": metric, "nlist": nlist, "m": m, "nbits": nbits,
                                 "shards": shards, "count": None, "merged": False, "meta": meta or {},
                                 "train_sample": n, "train_seconds": round(time.perf_counter() - started, 2),
                                 "faiss_version": faiss.__version__})
    atomic_write(folder / "trained.faiss", lambda tmp: faiss.write_index(index, str(tmp)))
    return folder


def _part(folder: Path, index: int, count: int) -> Path:
    return folder / "parts" / f"{index:05d}-of-{count:05d}"


def add_shard(folder: str | Path, vectors: np.ndarray, rows: pd.DataFrame, *, start: int, index: int = 0,
              count: int = 1, present: np.ndarray | None = None) -> Path:
    """Shard `index` of `count`: `vectors` [n, dim] of the collection's rows `start`..`start + n` (their ids),
    `present` False where a row has no vector (kept in place, never found), `rows` their metadata."""
    folder = Path(folder)
    header = _header(folder)
    if count != header["shards"]:
        raise PolymodalError(f"{folder}: was trained for {header['shards']} shard(s); this is shard {index} of {count}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != header["dim"]:
        raise PolymodalError(f"vectors of shape {vectors.shape}; this index holds {header['dim']}-d vectors")
    if len(rows) != len(vectors):
        raise PolymodalError(f"{len(rows)} metadata rows for {len(vectors)} vectors")
    present = np.ones(len(vectors), bool) if present is None else np.asarray(present, bool)
    trained = faiss.read_index(str(folder / "trained.faiss"))
    ids = np.arange(start, start + len(vectors), dtype=np.int64)
    started = time.perf_counter()
    with backend.threads():
        trained.add_with_ids(vectors[present], ids[present])
    seconds = time.perf_counter() - started
    part = _part(folder, index, count)
    part.mkdir(parents=True, exist_ok=True)
    atomic_write(part / "index.faiss", lambda tmp: faiss.write_index(trained, str(tmp)))
    _save_npy(part / "vectors.npy", vectors)
    _save_npy(part / "present.npy", present)  # rows without a vector: never found, never scored

    def write_rows(tmp: Path) -> None:
        import pyarrow as pa
        import pyarrow.feather as feather

        feather.write_feather(pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False), str(tmp),
                              compression="uncompressed")  # uncompressed: memory-mapped reads by row

    atomic_write(part / "rows.arrow", write_rows)
    write_json(part / "part.json", {"index": index, "count": count, "start": start, "stop": start + len(vectors),
                                    "vectors": int(present.sum()), "add_seconds": round(seconds, 3)})
    return part


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would add ".npy" to a temporary name
            np.save(f, array)

    atomic_write(path, write)


def merge(folder: str | Path) -> dict:
    """Merge every shard's lists into `index.faiss` + `lists.ivfdata` (on disk); refuses while shards are missing
    or their rows do not follow each other."""
    from faiss.contrib.ondisk import merge_ondisk

    folder = Path(folder)
    header = _header(folder)
    parts = _parts(folder, header)
    trained = faiss.read_index(str(folder / "trained.faiss"))
    started = time.perf_counter()
    # A new list file each merge, then index.faiss (which names it) replaced atomically: a search during a merge
    # reads the old pair whole, and a merge cut short leaves the old index as it was.
    lists = f"lists-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.ivfdata"
    merge_ondisk(trained, [str(p / "index.faiss") for p, _ in parts], str(folder / lists))
    atomic_write(folder / "index.faiss", lambda tmp: faiss.write_index(trained, str(tmp)))
    header.update(count=parts[-1][1]["stop"], vectors=int(trained.ntotal), merged=True, lists=lists,
                  merge_seconds=round(time.perf_counter() - started, 2))
    write_json(folder / HEADER, header)
    for old in folder.glob("lists*.ivfdata"):
        if old.name != lists:
            old.unlink(missing_ok=True)
    return header


def _header(folder: Path) -> dict:
    if not (folder / HEADER).exists() or not (folder / "trained.faiss").exists():
        raise PolymodalError(f"{folder}: no trained IVF-PQ index here (train it first: polymodal index build "
                             "--kind ivfpq trains on --train-sample rows when the folder is new)")
    header = read_json(folder / HEADER)
    if header.get("kind") != KIND:
        raise PolymodalError(f"{folder}: holds an index of kind {header.get('kind')!r}, not {KIND!r}")
    return header


def _parts(folder: Path, header: dict) -> list[tuple[Path, dict]]:
    count = header["shards"]
    parts = [(_part(folder, i, count), None) for i in range(count)]
    missing = [i for i, (p, _) in enumerate(parts) if not (p / "part.json").exists()]
    if missing:
        raise PolymodalError(f"{folder}: shard(s) {', '.join(map(str, missing))} of {count} are not built yet")
    parts = [(p, read_json(p / "part.json")) for p, _ in parts]
    for (_, a), (_, b) in pairwise(parts):
        if a["stop"] != b["start"]:
            raise PolymodalError(f"{folder}: shard {a['index']} ends at row {a['stop']} but shard {b['index']} starts "
                                 f"at row {b['start']}; build every shard from the same table")
    return parts


@dataclass
class _Shard:
    start: int
    stop: int
    vectors: np.ndarray  # memory-mapped [n, dim]
    rows_path: Path
    present: np.ndarray | None = None  # False where a row has no vector (zeros in `vectors`)


class ShardedIndex:
    """A merged IVF-PQ index: `ShardedIndex.load(folder)`, then `search` like a `VectorIndex`."""

    def __init__(self, folder: Path, header: dict, index: faiss.Index, shards: list[_Shard]):
        self.folder, self.header, self._index, self._shards = folder, header, index, shards
        self._starts = np.array([s.start for s in shards], dtype=np.int64)
        # rerank 100 (the top 1000 PQ hits scored exactly): recall@10 0.998 at 10M vectors in bench_index_pq.py,
        # against 0.81 for the top 100, for 0.7 ms more a query (p50)
        self.nprobe, self.rerank = 16, 100

    @classmethod
    def load(cls, folder: str | Path) -> ShardedIndex:
        folder = Path(folder)
        header = _header(folder)
        if not header.get("merged"):
            raise PolymodalError(f"{folder}: the shards are not merged yet (polymodal index merge {folder})")
        index = faiss.read_index(str(folder / "index.faiss"), faiss.IO_FLAG_ONDISK_SAME_DIR)
        shards = [_Shard(info["start"], info["stop"], np.load(p / "vectors.npy", mmap_mode="r"), p / "rows.arrow",
                         np.load(p / "present.npy") if (p / "present.npy").exists() else None)
                  for p, info in _parts(folder, header)]
        return cls(folder, header, index, shards)

    # what it holds, as VectorIndex says it
    def __len__(self) -> int:
        return int(self.header["count"])

    @property
    def dim(self) -> int:
        return int(self.header["dim"])

    @property
    def kind(self) -> str:
        return KIND

    @property
    def metric(self) -> str:
        return self.header["metric"]

    @property
    def meta(self) -> dict:
        return self.header.get("meta", {})

    def set_search_params(self, *, nprobe: int | None = None, rerank: int | None = None) -> ShardedIndex:
        """nprobe: lists visited per query; rerank: how many PQ hits per wanted hit are scored exactly (0: none)."""
        self.nprobe = nprobe or self.nprobe
        self.rerank = self.rerank if rerank is None else rerank
        return self

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        """The exact vectors of global row `ids` (any shape), read from the shards' memory maps."""
        flat = ids.reshape(-1)
        out = np.zeros((len(flat), self.dim), np.float32)
        which = np.searchsorted(self._starts, flat, side="right") - 1
        for s in np.unique(which[flat >= 0]):
            pick = (which == s) & (flat >= 0)
            out[pick] = self._shards[s].vectors[flat[pick] - self._shards[s].start]
        return out.reshape(*ids.shape, self.dim)

    def search_arrays(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) [q, k] best first; missing slots id -1, score NaN. Scores are exact after re-ranking."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        wide = max(k, k * self.rerank) if self.rerank else k
        params = faiss.SearchParametersIVF(nprobe=min(self.nprobe, self.header["nlist"]))
        with backend.threads(len(queries)):
            scores, ids = self._index.search(queries, wide, params=params)
        if self.rerank:
            vecs = self.vectors_of(ids)
            if self.metric == "ip":
                exact = np.einsum("qkd,qd->qk", vecs, queries)
            else:
                exact = ((vecs - queries[:, None, :]) ** 2).sum(-1)
            exact[ids < 0] = np.nan
            key = -exact if self.metric == "ip" else exact
            order = np.argsort(np.where(np.isnan(key), np.inf, key), axis=1, kind="stable")[:, :k]
            scores, ids = np.take_along_axis(exact, order, 1), np.take_along_axis(ids, order, 1)
        scores, ids = scores[:, :k], ids[:, :k]
        scores = scores.astype(np.float32)
        scores[ids < 0] = np.nan
        return scores, ids

    def rows_of(self, ids: np.ndarray) -> pd.DataFrame:
        """Metadata of global row `ids`, in that order, read by row from the shards' memory-mapped Arrow files."""
        import pyarrow as pa

        ids = np.asarray(ids, dtype=np.int64)
        which = np.searchsorted(self._starts, ids, side="right") - 1
        frames, order = [], []
        for s in np.unique(which):
            pick = np.flatnonzero(which == s)
            with pa.memory_map(str(self._shards[s].rows_path)) as source:
                table = pa.ipc.open_file(source).read_all()
                frames.append(table.take(pa.array(ids[pick] - self._shards[s].start)).to_pandas())
            order.append(pick)
        if not frames:
            return pd.DataFrame()
        out = pd.concat(frames, ignore_index=True)
        return out.iloc[np.argsort(np.concatenate(order), kind="stable")].reset_index(drop=True)

    def search(self, queries: np.ndarray, k: int = 10) -> list[pd.DataFrame]:
        """One frame per query: rank, score, row (the global row id), then the metadata columns."""
        scores, ids = self.search_arrays(queries, k)
        frames = []
        for query_scores, query_ids in zip(scores, ids, strict=True):
            found = query_ids >= 0
            meta = self.rows_of(query_ids[found])
            frame = pd.DataFrame({"rank": np.arange(1, found.sum() + 1), "score": query_scores[found],
                                  "row": query_ids[found]})
            frames.append(pd.concat([frame, meta], axis=1))
        return frames

    def exact_search(self, queries: np.ndarray, k: int = 10, chunk: int = 262_144) -> np.ndarray:
        """The exact top-k ids by brute force over every stored vector, a chunk of rows at a time."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        best_s = np.full((len(queries), 0), -np.inf, np.float32)
        best_i = np.zeros((len(queries), 0), np.int64)
        for shard in self._shards:
            for lo in range(0, shard.stop - shard.start, chunk):
                block = np.asarray(shard.vectors[lo:lo + chunk])
                s = (block @ queries.T).T  # higher is closer; for l2, -|b - q|^2 up to the query's own norm
                if self.metric == "l2":
                    s = 2 * s - (block ** 2).sum(1)[None, :]
                if shard.present is not None:  # rows without a vector are not in the index: not in the truth either
                    s[:, ~shard.present[lo:lo + chunk]] = -np.inf
                ids = np.arange(shard.start + lo, shard.start + lo + len(block))
                if s.shape[1] > k:  # the chunk's own top k first (a partition, linear), then merge with the best
                    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
                    s, ids = np.take_along_axis(s, part, 1), ids[part]
                else:
                    ids = np.broadcast_to(ids, s.shape)
                s_all, i_all = np.concatenate([best_s, s], 1), np.concatenate([best_i, ids], 1)
                top = np.argsort(-s_all, axis=1, kind="stable")[:, :k]
                best_s, best_i = np.take_along_axis(s_all, top, 1), np.take_along_axis(i_all, top, 1)
        return best_i

    def recall_against_exact(self, queries: np.ndarray, k: int = 10) -> float:
        _, found = self.search_arrays(queries, k)
        exact = self.exact_search(queries, k)
        return float(np.mean([len(np.intersect1d(f[f >= 0], e)) / k for f, e in zip(found, exact, strict=True)]))

    def bytes_per_vector(self) -> float:
        """The merged index's size on disk (codes, ids, lists) per vector: what search needs, re-ranking aside."""
        size = sum(os.path.getsize(self.folder / f) for f in ("index.faiss", self.header.get("lists", "lists.ivfdata")))
        return size / max(int(self.header.get("vectors") or len(self)), 1)


def load_index(folder: str | Path):
    """A `VectorIndex` or a `ShardedIndex`, whichever `folder` holds."""
    folder = Path(folder)
    header = folder / HEADER
    if header.exists() and json.loads(header.read_text()).get("kind") == KIND:
        return ShardedIndex.load(folder)
    from .vector_index import VectorIndex

    return VectorIndex.load(folder)
