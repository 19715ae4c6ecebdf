"""`polymodal index build --kind ivfpq --shard i/N` and `index merge`: an alignment run's embeddings of a large
table, indexed in shards (index/sharded.py) by any launcher, like sharded feature extraction.

The first shard to find the folder untrained trains the quantizer on `train_sample` rows drawn (seeded) from the
whole table, under a lock file; the other shards wait for `trained.faiss` to appear, so every shard encodes with
the same codebooks (shards trained apart could not be merged). Each shard then embeds its row range
`[n*i/N, n*(i+1)/N)` and adds it with the rows' own numbers as ids."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..data.table import read_table
from ..encoders.sharded import Shard
from ..errors import PolymodalError
from ..index import sharded
from ..runs.lock import is_stale, release, take
from .search import index_rows

WAIT_SECONDS = 6 * 3600.0  # how long a shard waits for another to train the quantizer


def _default_m(dim: int) -> int:
    return next((m for m in (32, 16, 8, 4, 2, 1) if dim % m == 0 and dim // m >= 4), 1)


def _train_once(aligner, table, column: str, out: Path, shard: Shard, train_sample: int, nlist: int | None,
                m: int | None, nbits: int, run: str) -> None:
    if (out / "trained.faiss").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".training.lock"
    if not take(lock, shard=shard.index, count=shard.count):  # another shard trains: wait for its result
        deadline = time.monotonic() + WAIT_SECONDS
        while not (out / "trained.faiss").exists():
            if is_stale(lock):  # its trainer died on this machine (killed, out of memory): take over
                lock.unlink(missing_ok=True)
                return _train_once(aligner, table, column, out, shard, train_sample, nlist, m, nbits, run)
            if not lock.exists():
                raise PolymodalError(f"{out}: the shard that was training the quantizer stopped without finishing; "
                                     f"start again (a stale {lock.name} is removed by then)") from None
            if time.monotonic() > deadline:
                raise PolymodalError(f"{out}: waited {WAIT_SECONDS:.0f} s for the quantizer ({lock} exists); "
                                     "remove the lock if no shard is training") from None
            time.sleep(2.0)
        return
    try:
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(table), size=min(train_sample, len(table)), replace=False))
        sample = replace(table, df=table.df.iloc[pick])
        emb, present = aligner.embed_table(sample, column)
        dim = emb.shape[1]
        sharded.train(out, emb[present], nlist=nlist, m=m or _default_m(dim), nbits=nbits, shards=shard.count,
                      meta={"run": run, "column": column, "role": aligner.schema_.modalities[column]})
    finally:
        release(lock)


def build_shard(aligner, data, column: str, out: str | Path, *, shard: Shard | None = None,
                train_sample: int = 100_000, nlist: int | None = None, m: int | None = None,
                nbits: int = 8) -> Path:
    """Embed shard `shard` of `data`'s rows with `aligner` into the IVF-PQ index folder `out` (training it first
    when nobody has). Returns the shard's folder."""
    from ..training.distributed import alone

    with alone():  # shards are independent processes: no collective (a feature barrier) may wait for the others
        return _build_shard(aligner, data, column, Path(out), shard or Shard(), train_sample, nlist, m, nbits)


def _build_shard(aligner, data, column: str, out: Path, shard: Shard, train_sample: int, nlist: int | None,
                 m: int | None, nbits: int) -> Path:
    table = read_table(data)
    run = str(Path(getattr(aligner, "run_dir_", "")).resolve()) if hasattr(aligner, "run_dir_") else ""
    _train_once(aligner, table, column, out, shard, train_sample, nlist, m, nbits, run)
    header = sharded._header(out)
    if header["shards"] != shard.count or header["meta"].get("column") != column:
        raise PolymodalError(f"{out}: was trained for {header['shards']} shard(s) of column "
                             f"{header['meta'].get('column')!r}; this is shard {shard.index}/{shard.count} of "
                             f"{column!r}. Use another --out, or the same --shard count and column")
    rows = shard.rows(len(table))
    part = replace(table, df=table.df.iloc[rows.start:rows.stop])
    emb, present = aligner.embed_table(part, column)
    meta = index_rows(part, aligner, np.ones(len(part), bool))
    return sharded.add_shard(out, emb, meta, start=rows.start, index=shard.index, count=shard.count,
                             present=present)
