"""The FAISS side of the vector index: build one FAISS index per kind, set its search knobs, run an
exact search over the same stored vectors, and choose FAISS's thread count per call.

All three kinds keep the vectors uncompressed (IndexFlat, IndexHNSWFlat, IndexIVFFlat), so the raw
vectors are always recoverable from the FAISS index itself: exact search and `vectors()` need no
second copy in memory or on disk."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

KINDS = ("flat", "hnsw", "ivf")
METRICS = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}
IVF_MIN_POINTS_PER_LIST = 39  # FAISS's own k-means warns below this; we refuse instead
IVF_TRAIN_POINTS_PER_LIST = 64  # k-means sample (FAISS default 256): 1M x 256-d trains in ~75 s on 2 CPUs


@functools.cache
def usable_cpus() -> int:
    """CPUs this process may really use: its affinity mask, capped by a cgroup v2 CPU quota.
    OpenMP counts the host's cores inside a container, and oversubscribed OpenMP is very slow."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def max_threads() -> int:
    """OMP_NUM_THREADS when the user set it, else one thread per usable CPU."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return usable_cpus()


@contextmanager
def threads(parallel_items: int | None = None) -> Iterator[None]:
    """FAISS's OpenMP threads for one call, never more than the queries a search can split across.
    Measured here (2 CPUs, 1M x 256 flat): one query took 45 ms on 1 thread and 85 ms with a second,
    idle thread spinning beside it. Set per call because OpenMP keeps this setting per calling thread."""
    wanted = max_threads() if parallel_items is None else max(1, min(max_threads(), parallel_items))
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(wanted)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def build_flat(dim: int, metric: str) -> faiss.Index:
    return faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)


def build_hnsw(dim: int, metric: str, *, hnsw_m: int, ef_construction: int, ef_search: int) -> faiss.Index:
    index = faiss.IndexHNSWFlat(dim, hnsw_m, METRICS[metric])
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = ef_search
    return index


def default_nlist(n: int) -> int:
    """About 4*sqrt(n) lists, but never so many that a list gets fewer than 39 training points."""
    return max(1, min(round(4 * math.sqrt(n)), n // IVF_MIN_POINTS_PER_LIST))


def build_ivf(dim: int, metric: str, train: np.ndarray, *, nlist: int, nprobe: int) -> faiss.Index:
    """Train the coarse quantizer (k-means) on `train` and return the empty, trained index."""
    quantizer = build_flat(dim, metric)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, METRICS[metric])
    index.cp.spherical = metric == "ip"  # centroids on the unit sphere, like the vectors
    index.cp.seed = 1234  # same data, same lists
    index.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
    index.train(train)
    index.nprobe = min(nprobe, nlist)
    return index


def set_search_params(index: faiss.Index, kind: str, params: dict) -> None:
    if kind == "hnsw":
        index.hnsw.efSearch = params["ef_search"]
    elif kind == "ivf" and index is not None:
        index.nprobe = min(params["nprobe"], index.nlist)


def exact_search(index: faiss.Index, kind: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force over every stored vector, reading them where the index already keeps them."""
    if kind == "flat":
        return index.search(queries, k)
    if kind == "hnsw":
        return faiss.downcast_index(index.storage).search(queries, k)
    return index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=index.nlist))


def raw_vectors(index: faiss.Index | None, dim: int) -> np.ndarray:
    """A copy of the stored vectors, in row-id order (IVF's reconstruct_n scans its lists for the ids,
    so it needs no direct map)."""
    if index is None or index.ntotal == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
