"""`VectorIndex`: embeddings plus one metadata row each, searchable by FAISS and saved as a folder.

Row ids are consecutive from 0 in the order vectors were added; `add` appends and never touches the
vectors already stored. Scores are inner products for metric="ip" (cosine similarity when the
vectors are L2-normalised; higher is closer) and squared Euclidean distances for metric="l2"
(lower is closer).

Kinds: "flat" is exact. "hnsw" (a graph, Malkov & Yashunin 2018) and "ivf" (k-means lists, Jégou
et al. 2011) are approximate; `recall_against_exact` measures what they miss. "ivf" trains its
lists on the first `add`, which must bring at least 39 vectors per list (default nlist: about
4*sqrt(n), fewer lists for small n); a smaller first add raises rather than silently changing kind.
Memory: every kind stores each vector once, uncompressed: 4*dim bytes, plus the HNSW graph
(about 8*hnsw_m bytes a vector) or IVF's 8-byte id."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from ..errors import PolymodalError
from . import backend, checks, storage


class VectorIndex:
    """Build with `VectorIndex.create(...)` or `VectorIndex.load(folder)`."""

    def __init__(self, dim: int, kind: str, metric: str, params: dict, meta: dict,
                 index: faiss.Index | None, rows: pd.DataFrame):
        self._dim, self._kind, self._metric = dim, kind, metric
        self._params, self._meta = params, meta
        self._index, self._rows = index, rows
        backend.set_search_params(index, kind, params)

    @classmethod
    def create(cls, dim: int, *, kind: str = "flat", metric: str = "ip", hnsw_m: int = 32,
               ef_construction: int = 40, ef_search: int = 64, nlist: int | None = None, nprobe: int = 64,
               meta: dict | None = None) -> VectorIndex:
        """An empty index. hnsw_m/ef_construction/ef_search apply to "hnsw", nlist/nprobe to "ivf"."""
        if kind not in backend.KINDS:
            raise PolymodalError(f"kind must be one of {list(backend.KINDS)}, got {kind!r}")
        if metric not in backend.METRICS:
            raise PolymodalError(f"metric must be one of {list(backend.METRICS)}, got {metric!r}")
        dim = checks.positive_int(dim, "dim")
        meta = checks.json_meta(meta)
        index = None
        if kind == "flat":
            params = {}
            index = backend.build_flat(dim, metric)
        elif kind == "hnsw":
            params = {"hnsw_m": checks.positive_int(hnsw_m, "hnsw_m"),
                      "ef_construction": checks.positive_int(ef_construction, "ef_construction"),
                      "ef_search": checks.positive_int(ef_search, "ef_search")}
            index = backend.build_hnsw(dim, metric, **params)
        else:
            params = {"nlist": None if nlist is None else checks.positive_int(nlist, "nlist"),
                      "nprobe": checks.positive_int(nprobe, "nprobe")}
        return cls(dim, kind, metric, params, meta, index, checks.as_rows(None, 0))

    # -- what it holds ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"VectorIndex(kind={self._kind!r}, metric={self._metric!r}, dim={self._dim}, count={len(self)})"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def meta(self) -> dict:
        """Free JSON saved with the index (run id, modality, ...); edit it in place before `save`."""
        return self._meta

    @property
    def params(self) -> dict:
        return dict(self._params)

    @property
    def rows(self) -> pd.DataFrame:
        """The metadata, one row per vector; the frame's index is the row id."""
        return self._rows

    def vectors(self) -> np.ndarray:
        """A float32 [len, dim] copy of the stored vectors, in row-id order."""
        return backend.raw_vectors(self._index, self._dim)

    # -- changing it -----------------------------------------------------------------------------
    def add(self, vectors: np.ndarray, rows: pd.DataFrame | None = None) -> VectorIndex:
        """Append `vectors` [n, dim] with their metadata `rows` (n rows, any columns); returns self."""
        vectors = checks.as_matrix(vectors, "vectors to add", self._dim, self._meta)
        new_rows = checks.as_rows(rows, len(vectors))
        checks.warn_if_not_normalised(vectors, self._metric)
        if len(vectors) == 0:
            return self
        with backend.threads():
            if self._index is None:
                self._index = self._train_ivf(vectors)
            self._index.add(vectors)
        self._rows = new_rows if len(self._rows) == 0 else pd.concat([self._rows, new_rows], ignore_index=True)
        return self

    def _train_ivf(self, vectors: np.ndarray) -> faiss.Index:
        n = len(vectors)
        nlist = self._params["nlist"] or backend.default_nlist(n)
        needed = nlist * backend.IVF_MIN_POINTS_PER_LIST
        if n < needed:
            raise PolymodalError(f"kind='ivf' trains its {nlist} lists on the first add, which needs at least "
                                 f"{needed} vectors ({backend.IVF_MIN_POINTS_PER_LIST} a list); got {n}. Add more "
                                 "vectors at once, pass a smaller nlist, or use kind='flat' (exact, and fast "
                                 "enough below about 100k vectors).")
        self._params["nlist"] = nlist
        return backend.build_ivf(self._dim, self._metric, vectors, nlist=nlist, nprobe=self._params["nprobe"])

    def set_search_params(self, *, ef_search: int | None = None, nprobe: int | None = None) -> VectorIndex:
        """Trade speed for recall without rebuilding: ef_search for "hnsw", nprobe for "ivf"."""
        for name, value, kind in (("ef_search", ef_search, "hnsw"), ("nprobe", nprobe, "ivf")):
            if value is None:
                continue
            if self._kind != kind:
                raise PolymodalError(f"{name} applies to kind={kind!r}; this index is kind={self._kind!r}")
            self._params[name] = checks.positive_int(value, name)
        backend.set_search_params(self._index, self._kind, self._params)
        return self

    # -- searching -------------------------------------------------------------------------------
    def search_arrays(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(scores [q, k'], ids [q, k']) best first, k' = min(k, len). An approximate index may find
        fewer than k' for a query; those slots hold id -1 and score NaN."""
        queries = checks.as_matrix(queries, "queries", self._dim, self._meta)
        k = min(checks.positive_int(k, "k"), len(self))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        with backend.threads(len(queries)):
            scores, ids = self._index.search(queries, k)
        scores[ids < 0] = np.nan
        return scores, ids

    def search(self, queries: np.ndarray, k: int = 10) -> list[pd.DataFrame]:
        """One frame per query (a single [dim] query gives a list of one): rank (1 = best), score,
        row (the row id), then the metadata columns."""
        scores, ids = self.search_arrays(queries, k)
        frames = []
        for query_scores, query_ids in zip(scores, ids, strict=True):
            found = query_ids >= 0
            kept = query_ids[found]
            frame = {"rank": np.arange(1, len(kept) + 1), "score": query_scores[found], "row": kept}
            # take from each column's own array: a column-wise copy to numpy would cost O(len) a query
            frame.update({name: column.array.take(kept) for name, column in self._rows.items()})
            frames.append(pd.DataFrame(frame))
        return frames

    def recall_against_exact(self, queries: np.ndarray, k: int = 10) -> float:
        """Mean fraction of the exact top-k (brute force over the same vectors) that `search` finds."""
        queries = checks.as_matrix(queries, "queries", self._dim, self._meta)
        k = min(checks.positive_int(k, "k"), len(self))
        if k == 0 or len(queries) == 0:
            raise PolymodalError("recall needs at least one stored vector and one query")
        with backend.threads(len(queries)):
            _, found = self._index.search(queries, k)
            _, exact = backend.exact_search(self._index, self._kind, queries, k)
        hits = sum(len(np.intersect1d(f[f >= 0], e)) for f, e in zip(found, exact, strict=True))
        return hits / (len(queries) * k)

    # -- disk ------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write index.faiss, rows.parquet and then index.json into `folder` (see storage.py)."""
        folder = Path(folder)
        header = {"dim": self._dim, "kind": self._kind, "metric": self._metric, "params": self._params,
                  "count": len(self), "meta": self._meta, "faiss_version": faiss.__version__}
        storage.write_folder(folder, self._index, self._rows, header)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> VectorIndex:
        header, index, rows = storage.read_folder(Path(folder))
        return cls(header["dim"], header["kind"], header["metric"], header["params"], header["meta"], index, rows)
