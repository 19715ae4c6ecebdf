"""`fit` on a table larger than memory (predict/streamed.py): two passes over a Parquet table, memory-mapped
features, the same candidates and report as a fit in memory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import polymodal as pm
from polymodal.data.stream import hash_split
from polymodal.errors import PolymodalError, ValidationError
from polymodal.predict import streamed

WORDS = ["red", "green", "blue", "round", "square", "tiny"]


def _table(path, n: int = 600, *, split: bool = False, seed: int = 0):
    """Text and two numbers that both tell the label; one blank text cell (row 5), one row without a label (7)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)],
                       "note": [f"a {WORDS[(y[i] * 2 + rng.integers(0, 2)) % 6]} thing, number {i % 40}"
                                for i in range(n)],
                       "size": y + rng.normal(0, 0.8, n), "weight": -y + rng.normal(0, 1.5, n),
                       "label": [f"k{v}" for v in y]})
    df.loc[5, "note"] = "   "
    df.loc[7, "label"] = None
    if split:
        df["split"] = hash_split(df["id"], seed=3)
    df.to_parquet(path, row_group_size=128)
    return path


FAST = {"fusion": "concat", "epochs": 4, "patience": 2, "classical": "linear", "progress": False}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("streamed")
    table = _table(folder / "t.parquet")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(streamed, "BATCH_ROWS", 128)  # five batches: labels, splits and parts joined across them
        p = pm.Predictor("label", stream=True, on_error="skip", **FAST).fit(table, out=folder / "run")
    return p, folder


def test_a_streamed_fit_keeps_every_promise_of_a_fit(fitted, monkeypatch):
    p, folder = fitted
    assert p.streamed_["rows"] == 600 and p.streamed_["kept"] == 598
    assert p.streamed_["skipped"] == 1 and p.streamed_["unlabeled"] == 1
    skipped = pd.read_csv(folder / "run" / "skipped.csv")
    assert skipped[["row", "column"]].values.tolist() == [[5, "note"]], "named by its row in the whole table"
    ids = pd.read_parquet(folder / "t.parquet")["id"].drop(index=[5, 7])
    assert p.split_sizes_ == dict(pd.Series(hash_split(ids, seed=0)).value_counts()), "the split: a hash of the id"
    assert set(p.comparison_["name"]) >= {"concat", "only:note", "only:tabular", "linear-probe"}
    assert p.best_.test["accuracy"] > 0.8  # three classes: chance is a third
    assert not (folder / "run" / "features").exists(), "the mapped features are removed once the run is saved"
    metrics = json.loads((folder / "run" / "metrics.json").read_text())
    assert metrics["streamed"]["kept"] == 598
    assert "Streamed fit" in (folder / "run" / "report.html").read_text()
    again = pm.load(folder / "run")
    frame = pd.read_parquet(folder / "t.parquet").drop(index=[5, 7]).head(50)
    with pytest.warns(UserWarning, match="rows were used to fit this model"):  # fingerprints kept batch by batch
        assert again.evaluate(frame)["accuracy"] > 0.8


def test_streamed_and_in_memory_fits_agree_on_the_same_split(tmp_path):
    """With a split column both paths train on the same rows in the same order: the candidates' validation metrics
    agree (to a tolerance: mapped and in-memory batches are gathered differently, and float sums may round apart)."""
    table = _table(tmp_path / "t.parquet", n=400, split=True)
    args = {**FAST, "on_error": "skip", "ensemble": False}
    a = pm.Predictor("label", stream=True, **args).fit(table)
    b = pm.Predictor("label", stream=False, **args).fit(table)
    assert a.split_sizes_ == b.split_sizes_
    left = {c.name: c.val["log_loss"] for c in a.candidates_}  # continuous: any other row or order would show
    right = {c.name: c.val["log_loss"] for c in b.candidates_}
    assert set(left) == set(right) and len(left) >= 4
    np.testing.assert_allclose([left[k] for k in sorted(left)], [right[k] for k in sorted(left)], rtol=1e-4, atol=1e-6)


def test_every_problem_of_every_batch_is_listed(tmp_path, monkeypatch):
    monkeypatch.setattr(streamed, "BATCH_ROWS", 100)  # the problems sit in different batches
    df = pd.read_parquet(_table(tmp_path / "t.parquet", n=300))
    df.loc[250, "note"] = ""
    df.loc[180, "label"] = None
    df.loc[180, "size"] = np.nan
    df.loc[280, "note"] = " "
    df.to_parquet(tmp_path / "t.parquet", row_group_size=64)
    with pytest.raises(ValidationError) as info:
        pm.Predictor("label", stream=True, **FAST).fit(tmp_path / "t.parquet")
    assert [(q.row, q.column) for q in info.value.problems] == [(5, "note"), (250, "note"), (280, "note")]


def test_settings_a_streamed_fit_cannot_honour_are_refused(tmp_path):
    table = _table(tmp_path / "t.parquet", n=50)
    with pytest.raises(PolymodalError, match="does not support bag_folds"):
        pm.Predictor("label", stream=True, bag_folds=2, **FAST).fit(table)
    df = pd.read_parquet(table)
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(PolymodalError, match=r"reads a Parquet file .*table convert"):
        pm.Predictor("label", stream=True, **FAST).fit(tmp_path / "t.csv")
    with pytest.raises(PolymodalError, match="trains on raw inputs"):
        pm.Predictor("label", stream=True, encoders={"text": "gru"}, on_error="skip", **FAST).fit(table)


def test_a_large_parquet_table_streams_on_its_own(tmp_path, monkeypatch):
    table = _table(tmp_path / "t.parquet", n=120)
    assert not streamed.wants_stream(None, table)
    monkeypatch.setenv("POLYMODAL_STREAM_ABOVE", "100")
    assert streamed.wants_stream(None, table) and not streamed.wants_stream(False, table)
    assert not streamed.wants_stream(None, pd.read_parquet(table)), "a DataFrame is in memory already"


def test_a_streamed_regression(tmp_path):
    df = pd.read_parquet(_table(tmp_path / "t.parquet", n=300)).drop(index=[5, 7])
    df["price"] = df["size"] * 3 + 1
    df.drop(columns=["label"]).to_parquet(tmp_path / "r.parquet", row_group_size=64)
    p = pm.Predictor("price", stream=True, **{**FAST, "epochs": 30, "patience": 5}).fit(tmp_path / "r.parquet")
    assert p.task_.kind == "regression" and p.best_.test["r2"] > 0.8  # price is a line through size


def test_predictions_stream_batch_by_batch(fitted, tmp_path):
    p, folder = fitted
    df = pd.read_parquet(folder / "t.parquet").drop(index=[5, 7]).reset_index(drop=True)
    df.to_parquet(tmp_path / "clean.parquet", row_group_size=100)
    whole = p.predict_proba(df, with_ids=True)
    batches = list(p.predict_proba_batches(tmp_path / "clean.parquet", with_ids=True, batch_rows=100))
    assert len(batches) == 6
    # a tolerance: batches of another size may take other SIMD paths through the same float32 sums
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole, atol=1e-6)
    from polymodal.cli import main as cli  # in this process: a child would load torch and MiniLM again

    assert cli(["predict", str(folder / "run"), str(tmp_path / "clean.parquet"), "--stream", "-o",
                str(tmp_path / "out.parquet")]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), whole, atol=1e-6)
    df.loc[250, "note"] = " "
    df.to_parquet(tmp_path / "bad.parquet", row_group_size=100)
    with pytest.raises(ValidationError, match="row 250, column 'note'"):
        list(p.predict_proba_batches(tmp_path / "bad.parquet", batch_rows=100))


def test_seen_rows_are_stored_as_raw_bytes_and_old_runs_still_load(fitted, tmp_path):
    import shutil

    p, folder = fitted
    assert (folder / "run" / "seen.npy").exists() and len(p.seen_) == sum(p.split_sizes_[k] for k in ("train", "val"))
    np.testing.assert_array_equal(pm.load(folder / "run").seen_, p.seen_)
    old = tmp_path / "old"
    shutil.copytree(folder / "run", old)
    (old / "seen.npy").unlink()
    (old / "seen.json").write_text(json.dumps({"columns": p.seen_columns_, "rows": [f"{v:016x}" for v in p.seen_]}))
    np.testing.assert_array_equal(pm.load(old).seen_, p.seen_)
