"""VectorIndex against numpy brute force on tiny random data; save/load round trips; the errors it promises."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polymodal.errors import PolymodalError
from polymodal.index import FORMAT_VERSION, VectorIndex
from polymodal.index import storage as index_storage

DIM = 16


def unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def captions(start: int, n: int) -> pd.DataFrame:
    return pd.DataFrame({"path": [f"img/{i}.png" for i in range(start, start + n)],
                         "caption": [f"caption {i}" for i in range(start, start + n)]})


def built(kind: str = "flat", n: int = 300, metric: str = "ip", **kw) -> tuple[VectorIndex, np.ndarray]:
    x = unit(n)
    return VectorIndex.create(DIM, kind=kind, metric=metric, **kw).add(x, captions(0, n)), x


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_flat_search_equals_numpy_brute_force(metric):
    index, x = built(metric=metric)
    q = unit(7, seed=1)
    if metric == "ip":
        truth = q @ x.T
        order = np.argsort(-truth, axis=1)[:, :5]
    else:
        truth = ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        order = np.argsort(truth, axis=1)[:, :5]
    scores, ids = index.search_arrays(q, k=5)
    np.testing.assert_array_equal(ids, order)
    np.testing.assert_allclose(scores, np.take_along_axis(truth, order, axis=1), rtol=1e-5, atol=1e-5)


def test_search_returns_metadata_rank_score_row():
    index, x = built()
    frame = index.search(x[42], k=3)[0]
    assert list(frame.columns) == ["rank", "score", "row", "path", "caption"]
    assert frame["rank"].tolist() == [1, 2, 3]
    assert frame.loc[0, "row"] == 42 and frame.loc[0, "caption"] == "caption 42"
    assert frame.loc[0, "score"] == pytest.approx(1.0, abs=1e-5)
    assert frame["caption"].tolist() == [f"caption {r}" for r in frame["row"]]
    assert frame["score"].is_monotonic_decreasing


def test_k_larger_than_index_returns_what_there_is():
    index, _ = built(n=4)
    scores, ids = index.search_arrays(unit(2, seed=3), k=10)
    assert scores.shape == ids.shape == (2, 4)
    assert sorted(ids[0]) == [0, 1, 2, 3]
    assert [len(f) for f in index.search(unit(2, seed=3), k=10)] == [4, 4]


def test_empty_index_searches_to_nothing():
    index = VectorIndex.create(DIM)
    assert len(index) == 0 and index.search(unit(1), k=3)[0].empty


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_save_load_gives_same_results(tmp_path, kind):
    index, _ = built(kind, n=400, meta={"run": "runs/a1", "modality": "image"})
    q = unit(9, seed=2)
    index.save(tmp_path / "ix")
    loaded = VectorIndex.load(tmp_path / "ix")
    assert (loaded.dim, loaded.kind, loaded.metric, len(loaded)) == (DIM, kind, "ip", 400)
    assert loaded.meta == {"run": "runs/a1", "modality": "image"} and loaded.params == index.params
    for a, b in zip(index.search_arrays(q, 8), loaded.search_arrays(q, 8), strict=True):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(index.search(q, 8)[3], loaded.search(q, 8)[3])
    np.testing.assert_array_equal(loaded.vectors(), index.vectors())


def test_add_in_two_batches_equals_add_once():
    x, rows, q = unit(500), captions(0, 500), unit(5, seed=4)
    once = VectorIndex.create(DIM).add(x, rows)
    twice = VectorIndex.create(DIM).add(x[:123], rows[:123]).add(x[123:], rows[123:])
    for a, b in zip(once.search_arrays(q, 10), twice.search_arrays(q, 10), strict=True):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(once.rows, twice.rows)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_add_keeps_old_vectors_and_numbers_rows_consecutively(kind):
    x = unit(1200)
    index = VectorIndex.create(DIM, kind=kind, nlist=8).add(x[:800], captions(0, 800))
    index.add(x[800:], captions(800, 400))
    np.testing.assert_array_equal(index.vectors(), x)
    assert index.rows.index.tolist() == list(range(1200))
    assert index.search(x[1100], k=1)[0].loc[0, "caption"] == "caption 1100"


def test_add_after_load(tmp_path):
    x = unit(300)
    VectorIndex.create(DIM, kind="hnsw").add(x[:200], captions(0, 200)).save(tmp_path / "ix")
    index = VectorIndex.load(tmp_path / "ix").add(x[200:], captions(200, 100))
    assert len(index) == 300
    top = index.search(x[250], k=1)[0]
    assert (top.loc[0, "row"], top.loc[0, "path"]) == (250, "img/250.png")
    index.save(tmp_path / "ix")
    assert len(VectorIndex.load(tmp_path / "ix")) == 300


def test_empty_ivf_saves_and_trains_after_load(tmp_path):
    VectorIndex.create(DIM, kind="ivf", nlist=4).save(tmp_path / "ix")
    index = VectorIndex.load(tmp_path / "ix")
    assert len(index) == 0
    index.add(unit(400), captions(0, 400))
    assert index.params["nlist"] == 4 and index.recall_against_exact(unit(20, seed=5), 5) > 0.5


@pytest.mark.parametrize(("kind", "params"), [("hnsw", {"hnsw_m": 16, "ef_search": 64}),
                                              ("ivf", {"nlist": 40, "nprobe": 24})])
def test_approximate_recall_against_exact(kind, params):
    x = unit(3000, dim=32)
    index = VectorIndex.create(32, kind=kind, **params).add(x)
    q = unit(100, dim=32, seed=6)
    assert index.recall_against_exact(q, k=10) >= 0.9
    # the measure can tell a crippled index from a good one
    index.set_search_params(**({"ef_search": 1} if kind == "hnsw" else {"nprobe": 1}))
    assert index.recall_against_exact(q, k=10) < 0.8


def test_flat_recall_is_one():
    index, _ = built()
    assert index.recall_against_exact(unit(10, seed=7), k=10) == 1.0


def test_query_dimension_mismatch_names_both_dims_and_run():
    index, _ = built(meta={"run": "runs/align-7", "modality": "text"})
    with pytest.raises(PolymodalError, match=r"holds 16-dimensional embeddings \(made by run 'runs/align-7', "
                                             r"modality 'text'\) but the queries are 8-dimensional"):
        index.search(np.ones(8, np.float32))
    with pytest.raises(PolymodalError, match=r"16-dimensional .* vectors to add are 12-dimensional"):
        index.add(unit(3, dim=12), captions(0, 3))


def test_nan_query_and_bad_k_are_errors():
    index, _ = built()
    q = unit(3)
    q[1, 4] = np.nan
    with pytest.raises(PolymodalError, match=r"NaN or infinite values in 1 row\(s\): 1"):
        index.search(q)
    for k in (0, -1, 2.5):
        with pytest.raises(PolymodalError, match="k must be a whole number >= 1"):
            index.search(unit(1), k=k)


def test_add_validates_rows_and_values():
    index = VectorIndex.create(DIM)
    with pytest.raises(PolymodalError, match="got 5 vectors but 4 metadata rows"):
        index.add(unit(5), captions(0, 4))
    with pytest.raises(PolymodalError, match=r"clash .* rename them"):
        index.add(unit(2), pd.DataFrame({"score": [1, 2]}))
    bad = unit(3)
    bad[2, 0] = np.inf
    with pytest.raises(PolymodalError, match=r"vectors to add contain NaN or infinite values in 1 row\(s\): 2"):
        index.add(bad)
    assert len(index) == 0  # nothing half-added
    with pytest.warns(UserWarning, match="only for L2-normalised vectors"):
        index.add(unit(2) * 3)


def test_create_rejects_bad_options():
    with pytest.raises(PolymodalError, match="kind must be one of"):
        VectorIndex.create(DIM, kind="annoy")
    with pytest.raises(PolymodalError, match="metric must be one of"):
        VectorIndex.create(DIM, metric="cosine")
    with pytest.raises(PolymodalError, match="meta must hold only JSON values"):
        VectorIndex.create(DIM, meta={"when": object()})
    with pytest.raises(PolymodalError, match="ef_search applies to kind='hnsw'"):
        VectorIndex.create(DIM).set_search_params(ef_search=10)


def test_ivf_first_add_too_small_is_a_clear_error():
    with pytest.raises(PolymodalError, match=r"trains its 64 lists on the first add, .* at least 2496 vectors"):
        VectorIndex.create(DIM, kind="ivf", nlist=64).add(unit(1000))


def test_load_missing_folder_file_or_index_json(tmp_path):
    with pytest.raises(PolymodalError, match="no index folder at"):
        VectorIndex.load(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(PolymodalError, match="is a file"):
        VectorIndex.load(tmp_path / "file")
    with pytest.raises(PolymodalError, match=r"has no index\.json"):
        VectorIndex.load(tmp_path)
    built()[0].save(tmp_path / "ix")
    (tmp_path / "ix" / "rows.parquet").unlink()
    with pytest.raises(PolymodalError, match=r"is missing rows\.parquet"):
        VectorIndex.load(tmp_path / "ix")


def rewrite_json(folder: Path, **changes) -> None:
    path = folder / "index.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_load_rejects_other_format_versions(tmp_path):
    built()[0].save(tmp_path / "ix")
    assert json.loads((tmp_path / "ix" / "index.json").read_text())["format_version"] == FORMAT_VERSION
    rewrite_json(tmp_path / "ix", format_version=FORMAT_VERSION + 1)
    with pytest.raises(PolymodalError, match=f"format version {FORMAT_VERSION + 1}.*reads index format version "
                                             f"{FORMAT_VERSION} .*newer polymodal"):
        VectorIndex.load(tmp_path / "ix")


def test_load_rejects_count_mismatch(tmp_path):
    built()[0].save(tmp_path / "ix")
    rewrite_json(tmp_path / "ix", count=299)
    with pytest.raises(PolymodalError, match=re.escape("count mismatch: index.json says 299 vectors, index.faiss holds "
                                                       "300 and rows.parquet holds 300 rows")):
        VectorIndex.load(tmp_path / "ix")


def test_load_rejects_files_from_two_saves(tmp_path):
    built(n=300)[0].save(tmp_path / "a")
    built(n=200)[0].save(tmp_path / "b")
    os.replace(tmp_path / "b" / "rows.parquet", tmp_path / "a" / "rows.parquet")
    with pytest.raises(PolymodalError, match="mixes files from different saves"):
        VectorIndex.load(tmp_path / "a")


def test_save_leaves_no_temp_files_and_overwrites(tmp_path):
    index, _ = built(kind="hnsw")
    index.save(tmp_path / "ix")
    index.add(unit(10, seed=9), captions(300, 10)).save(tmp_path / "ix")
    assert sorted(p.name for p in (tmp_path / "ix").iterdir()) == ["index.faiss", "index.json", "rows.parquet"]
    assert len(VectorIndex.load(tmp_path / "ix")) == 310


def test_failed_save_keeps_the_previous_one(tmp_path, monkeypatch):
    index, x = built()
    index.save(tmp_path / "ix")
    before = VectorIndex.load(tmp_path / "ix").search_arrays(x[:3], 5)

    def broken(rows, path):
        path.write_bytes(b"half a parquet file")
        raise OSError("disk full")

    monkeypatch.setattr(index_storage, "_write_rows", broken)
    with pytest.raises(OSError, match="disk full"):
        index.add(unit(5, seed=8)).save(tmp_path / "ix")
    assert sorted(p.name for p in (tmp_path / "ix").iterdir()) == ["index.faiss", "index.json", "rows.parquet"]
    after = VectorIndex.load(tmp_path / "ix").search_arrays(x[:3], 5)
    np.testing.assert_array_equal(before[1], after[1])


def test_save_interrupted_while_moving_files_is_refused_on_load(tmp_path, monkeypatch):
    index, _ = built()
    index.save(tmp_path / "ix")
    real_replace, calls = os.replace, []

    def dies_on_second_move(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if killed between moving index.faiss and rows.parquet
        real_replace(src, dst)

    monkeypatch.setattr(index_storage.os, "replace", dies_on_second_move)
    with pytest.raises(KeyboardInterrupt):
        index.add(unit(5, seed=8)).save(tmp_path / "ix")
    monkeypatch.undo()
    with pytest.raises(PolymodalError, match=r"has no index\.json: .* interrupted"):
        VectorIndex.load(tmp_path / "ix")
    assert not [p for p in (tmp_path / "ix").iterdir() if ".tmp-" in p.name or ".staged-" in p.name]


def test_unwritable_metadata_is_a_clear_error(tmp_path):
    index = VectorIndex.create(DIM).add(unit(2), pd.DataFrame({"mixed": [1, "two"]}))
    with pytest.raises(PolymodalError, match="cannot write the row metadata to Parquet"):
        index.save(tmp_path / "ix")


def test_ivf_slots_it_could_not_fill_are_marked_and_dropped():
    index = VectorIndex.create(DIM, kind="ivf", nlist=4, nprobe=1).add(unit(400), captions(0, 400))
    scores, ids = index.search_arrays(unit(3, seed=10), k=300)  # one list holds about 100 vectors
    assert (ids == -1).any()
    np.testing.assert_array_equal(np.isnan(scores), ids == -1)
    frames = index.search(unit(3, seed=10), k=300)
    assert [len(f) for f in frames] == list((ids >= 0).sum(axis=1))
    assert all(f["row"].min() >= 0 for f in frames)


def test_faiss_threads_per_call(monkeypatch):
    from polymodal.index import backend

    index, x = built()
    calls = []
    real = backend.faiss.omp_set_num_threads
    monkeypatch.setattr(backend.faiss, "omp_set_num_threads", lambda n: (calls.append(n), real(n)))
    monkeypatch.setattr(backend, "usable_cpus", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = backend.faiss.omp_get_max_threads()
    index.search_arrays(x[0], 3)  # one query: one thread, then the old setting back
    index.search_arrays(x[:5], 3)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    index.add(unit(3, seed=11))
    assert calls == [1, before, 2, before, 1, before]
