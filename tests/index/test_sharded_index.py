"""The IVF-PQ index built in shards (index/sharded.py): 2 shards merged on disk equal one build, re-ranking with
the exact vectors brings recall@10 to >= 0.95, metadata are read by row id, and a wrong build is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from polymodal.errors import PolymodalError
from polymodal.index import sharded


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 centres: the structure real embeddings have, so PQ is approximate but useful."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
    x = centres[rng.integers(0, 50, n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return clustered(12_000), clustered(50, seed=1)


def build(folder, vectors, shards: int):
    sharded.train(folder, vectors, nlist=32, m=8, shards=shards, meta={"column": "x"})
    bounds = np.linspace(0, len(vectors), shards + 1).astype(int)
    for i in range(shards):
        lo, hi = bounds[i], bounds[i + 1]
        sharded.add_shard(folder, vectors[lo:hi], pd.DataFrame({"name": [f"v{j}" for j in range(lo, hi)]}),
                          start=int(lo), index=i, count=shards)
    sharded.merge(folder)
    return sharded.ShardedIndex.load(folder)


def test_two_shards_merged_equal_one_build(tmp_path, data):
    vectors, queries = data
    one, two = build(tmp_path / "one", vectors, 1), build(tmp_path / "two", vectors, 2)
    for index in (one, two):
        index.set_search_params(nprobe=8, rerank=0)  # PQ alone: the codes themselves are compared
    s1, i1 = one.search_arrays(queries, 10)
    s2, i2 = two.search_arrays(queries, 10)
    assert np.array_equal(i1, i2) and np.array_equal(s1, s2)  # the same trained quantizer, the same codes
    assert len(two) == 12_000 and two.header["vectors"] == 12_000


def test_reranking_recovers_recall(tmp_path, data):
    vectors, queries = data
    index = build(tmp_path / "idx", vectors, 2)
    index.set_search_params(nprobe=16, rerank=0)
    pq_only = index.recall_against_exact(queries, 10)
    index.set_search_params(rerank=10)
    reranked = index.recall_against_exact(queries, 10)
    assert reranked >= 0.95 and reranked > pq_only
    scores, ids = index.search_arrays(queries[:3], 5)
    exact = np.einsum("qkd,qd->qk", vectors[ids], queries[:3])
    np.testing.assert_allclose(scores, exact, rtol=1e-5, atol=1e-6)  # re-ranked scores are the exact ones
    assert (np.diff(scores, axis=1) <= 1e-7).all()  # best first


def test_hits_carry_their_metadata_by_row_id(tmp_path, data):
    vectors, _ = data
    index = build(tmp_path / "idx", vectors, 3)
    hits = index.search(vectors[[7000]], k=3)[0]
    assert hits["row"].iloc[0] == 7000 and hits["name"].iloc[0] == "v7000"  # a stored vector finds itself
    assert index.rows_of(np.array([11_999, 0, 4000]))["name"].tolist() == ["v11999", "v0", "v4000"]
    assert isinstance(sharded.load_index(tmp_path / "idx"), sharded.ShardedIndex)
    assert index.bytes_per_vector() < 4 * vectors.shape[1]  # smaller than the raw float32 vectors


def test_a_wrong_build_is_refused(tmp_path, data):
    vectors, _ = data
    with pytest.raises(PolymodalError, match="must divide the dimension 32"):
        sharded.train(tmp_path / "a", vectors, m=5)
    with pytest.raises(PolymodalError, match="needs at least"):
        sharded.train(tmp_path / "a", vectors[:100], nlist=32, m=8)
    sharded.train(tmp_path / "b", vectors, nlist=32, m=8, shards=2)
    sharded.add_shard(tmp_path / "b", vectors[:100], pd.DataFrame({"n": range(100)}), start=0, index=0, count=2)
    with pytest.raises(PolymodalError, match=r"shard\(s\) 1 of 2 are not built yet"):
        sharded.merge(tmp_path / "b")
    sharded.add_shard(tmp_path / "b", vectors[200:300], pd.DataFrame({"n": range(100)}), start=200, index=1, count=2)
    with pytest.raises(PolymodalError, match="ends at row 100 but shard 1 starts at row 200"):
        sharded.merge(tmp_path / "b")
    with pytest.raises(PolymodalError, match="not merged yet"):
        sharded.ShardedIndex.load(tmp_path / "b")
    with pytest.raises(PolymodalError, match="holds 32-d vectors"):
        sharded.add_shard(tmp_path / "b", vectors[:, :16], pd.DataFrame({"n": range(len(vectors))}), start=0,
                          count=2)
    with pytest.raises(PolymodalError, match=r"trained for 2 shard\(s\); this is shard 0 of 3"):
        sharded.add_shard(tmp_path / "b", vectors[:10], pd.DataFrame({"n": range(10)}), start=0, count=3)


@pytest.mark.slow
def test_the_command_line_builds_shards_concurrently_then_merges_and_searches(tmp_path):
    """Two `index build --kind ivfpq --shard k/2` at once (one trains, the other waits for its quantizer), then
    `index merge` and `search --text` through the alignment run, as a SLURM array would."""
    import subprocess
    import sys

    words = ["red", "green", "blue", "round", "square", "tiny", "huge", "soft", "loud", "calm", "old", "new"]
    rows = [{"text": f"a {words[i % 12]} {words[(i // 12) % 12]} thing number {i}",
             "other": f"one {words[i % 12]} and {words[(i // 12) % 12]} object", "key": i} for i in range(720)]
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    from tests.launch import child_env

    env = child_env()

    def cli(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "polymodal", *args], cwd=tmp_path, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def ok(proc: subprocess.Popen) -> str:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-2000:] + err[-2000:]
        return out

    ok(cli("align", "t.csv", "--pair", "text,other", "--method", "cca", "--out", "al"))
    builds = [cli("index", "build", "al", "t.csv", "--column", "other", "--kind", "ivfpq", "--shard", f"{k}/2",
                  "--out", "idx", "--m", "16", "--nbits", "4", "--nlist", "8") for k in range(2)]
    for proc in builds:
        ok(proc)
    assert "720 vectors from 2 shard(s)" in ok(cli("index", "merge", "idx"))
    out = ok(cli("search", "idx", "--text", "a huge square thing", "-k", "3", "--columns", "other"))
    assert "huge" in out and "square" in out
    index = sharded.ShardedIndex.load(tmp_path / "idx")
    assert index.header["train_sample"] == 720 and index.meta["column"] == "other"


def test_rows_without_a_vector_are_never_found(tmp_path, data):
    vectors, queries = data
    sharded.train(tmp_path / "idx", vectors, nlist=32, m=8)
    present = np.ones(len(vectors), bool)
    present[::2] = False  # half the rows have no vector: stored as zeros, never added
    rows = pd.DataFrame({"n": range(len(vectors))})
    sharded.add_shard(tmp_path / "idx", np.where(present[:, None], vectors, 0), rows, start=0, present=present)
    sharded.merge(tmp_path / "idx")
    index = sharded.ShardedIndex.load(tmp_path / "idx")
    _, found = index.search_arrays(queries, 10)
    assert present[found[found >= 0]].all()
    assert present[index.exact_search(queries, 10)].all()  # nor in the exact truth recall is measured against


def test_a_dead_trainers_lock_is_taken_over(tmp_path):
    import json
    import socket

    from polymodal.runs.lock import is_stale as _stale

    lock = tmp_path / ".training.lock"
    dead = subprocess_pid_that_ended()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead}))
    assert _stale(lock)
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": __import__("os").getpid()}))
    assert not _stale(lock)  # alive
    lock.write_text(json.dumps({"host": "another-machine", "pid": dead}))
    assert not _stale(lock)  # cannot be checked from here: keep waiting


def subprocess_pid_that_ended() -> int:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)
