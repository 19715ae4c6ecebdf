"""The IVF-PQ index for collections larger than memory (index/sharded.py), on this machine: train seconds, add
vectors/s per shard, bytes per vector, recall@10 against nprobe with and without exact re-ranking, and query
latency p50/p99 (one query at a time, the serving case).

Vectors: `--vectors` unit vectors of 256 dimensions (an alignment run's default): 1,000 clusters in a 32-d
latent space mapped to 256-d plus noise, so neighbours are meaningful and PQ is approximate (generated in chunks,
seeded). Built as `--shards` shards (one after the other here; a cluster runs them at once), merged on disk.
Recall is against the exact top 10 by brute force over the same vectors (computed once).
m=32 codes of 8 bits (32 bytes a code).

    python benchmarks/bench_index_pq.py [--vectors 10000000] [--shards 4] [--queries 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import command_line, head, publish
from polymodal.index import sharded

DIM, LATENT, CENTRES = 256, 32, 1000
PROJECTION = np.random.default_rng(7).normal(size=(LATENT, DIM)).astype(np.float32) / np.sqrt(LATENT)


def chunk(rng_seed: int, n: int, centres: np.ndarray) -> np.ndarray:
    """Embedding-like vectors: clusters in a 32-d latent space, mapped to 256-d, a little noise in every dimension
    (real embeddings have a low intrinsic dimension; isotropic 256-d noise would make every neighbour a tie)."""
    rng = np.random.default_rng(rng_seed)
    z = centres[rng.integers(0, CENTRES, n)] + 0.5 * rng.normal(size=(n, LATENT)).astype(np.float32)
    x = z @ PROJECTION + 0.05 * rng.normal(size=(n, DIM)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=int, default=10_000_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--train-sample", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--folder", type=Path, help="where to build (default: a temporary folder, removed after)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    centres = np.random.default_rng(0).normal(size=(CENTRES, LATENT)).astype(np.float32)
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        folder = Path(tmp) / "idx"
        started = time.perf_counter()
        sharded.train(folder, chunk(1, args.train_sample, centres), m=32, nbits=8, shards=args.shards)
        train_s = time.perf_counter() - started
        bounds = np.linspace(0, args.vectors, args.shards + 1).astype(np.int64)
        add_rates = []
        for i in range(args.shards):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            vectors = np.concatenate([chunk(10 + j, min(1_000_000, hi - s), centres)
                                      for j, s in enumerate(range(lo, hi, 1_000_000), start=lo // 1_000_000)])
            rows = pd.DataFrame({"row_name": np.arange(lo, hi)})
            sharded.add_shard(folder, vectors, rows, start=lo, index=i, count=args.shards)
            info = sharded.read_json(folder / "parts" / f"{i:05d}-of-{args.shards:05d}" / "part.json")
            add_rates.append((hi - lo) / info["add_seconds"])
            print(f"shard {i}: {hi - lo} vectors added at {add_rates[-1]:,.0f}/s", flush=True)
            del vectors
        header = sharded.merge(folder)
        index = sharded.ShardedIndex.load(folder)
        queries = chunk(999, args.queries, centres)
        started = time.perf_counter()
        exact = index.exact_search(queries, 10)
        exact_s = time.perf_counter() - started
        body = [f"{args.vectors:,} vectors of {DIM} dimensions, {args.shards} shards, nlist {header['nlist']}, "
                f"m 32 x 8 bits: train {train_s:.1f} s on {args.train_sample:,} vectors; add "
                f"{np.median(add_rates):,.0f} vectors/s per shard (median); merge {header['merge_seconds']:.1f} s; "
                f"{index.bytes_per_vector():.1f} bytes a vector in the merged index (plus {4 * DIM} for the exact "
                f"vectors kept on disk for re-ranking); exact search of {args.queries} queries by brute force "
                f"{exact_s:.1f} s.", "",
                "| nprobe | recall@10, PQ alone | re-ranked, top 100 exact | re-ranked, top 1000 exact | "
                "p50 / p99 ms, top 100 | p50 / p99 ms, top 1000 |", "|---:|---:|---:|---:|---:|---:|"]
        for nprobe in (8, 16, 32, 64):
            recalls, latency = {}, {}
            for rerank in (0, 10, 100):
                index.set_search_params(nprobe=nprobe, rerank=rerank)
                _, found = index.search_arrays(queries, 10)
                recalls[rerank] = float(np.mean([len(np.intersect1d(f, e)) / 10 for f, e in zip(found, exact,
                                                                                                  strict=True)]))
                if rerank:
                    times = []
                    for q in queries:
                        t0 = time.perf_counter()
                        index.search_arrays(q[None], 10)
                        times.append(1000 * (time.perf_counter() - t0))
                    latency[rerank] = f"{np.percentile(times, 50):.1f} / {np.percentile(times, 99):.1f}"
            body.append(f"| {nprobe} | {recalls[0]:.3f} | {recalls[10]:.3f} | {recalls[100]:.3f} | {latency[10]} | "
                        f"{latency[100]} |")
            print(body[-1], flush=True)
    opening = head("IVF-PQ in shards: build, size, recall and latency", command_line("bench_index_pq.py", argv),
                   "Latency: one query at a time, re-ranked (the first queries warm the page cache: p99 includes "
                   "reads of the memory-mapped vectors from disk).")
    publish("index_pq", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
