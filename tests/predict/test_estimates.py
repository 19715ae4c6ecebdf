"""Honest figures: a table without a split column gets held-out test rows that no candidate sees (or,
below CV_BELOW rows, a cross-validated estimate of the whole selection), the report says which, and
`evaluate` warns when it is given rows the fit used."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal as pm
import polymodal.predict.classical as classical
import polymodal.predict.fitting as fitting
from polymodal.data.table import read_table
from polymodal.errors import PolymodalError
from polymodal.predict.seen import seen_mask

# tabular="separate": these tests follow rows by each number column's own inputs (x1, x2 as modalities)
FAST = {"fusion": "concat,gated", "hidden": 8, "epochs": 3, "batch_size": 32, "progress": False,
        "tabular": "separate"}


def numbers(n: int, seed: int = 0) -> pd.DataFrame:
    """Two numeric inputs, a binary label; `x1` differs on every row, so a row's value names it."""
    rng = torch.Generator().manual_seed(seed)
    x1, x2 = torch.randn(n, generator=rng), torch.randn(n, generator=rng)
    return pd.DataFrame({"x1": x1.tolist(), "x2": x2.tolist(), "y": ["p" if v > 0 else "q" for v in x1 + x2]})


def test_without_a_split_column_test_rows_reach_no_training_and_no_selection(tmp_path, monkeypatch):
    seen_by_training = []
    real_train = fitting.train

    def spy(model, task, train_data, val_data=None, **kw):  # training and early stopping see these rows
        for part in (train_data, val_data):
            seen_by_training.extend((c, v) for c, x in part.inputs.items() for v in x.flatten().tolist())
        return real_train(model, task, train_data, val_data, **kw)

    monkeypatch.setattr(fitting, "train", spy)
    for name, (fit, readable) in list(classical.FITS.items()):  # the classical fits are handed train and val only
        def fit_spy(task, data, encoders, columns, *, fit=fit, **kw):
            for part in (data["train"], data["val"]):
                seen_by_training.extend((c, v) for c, x in part.inputs.items() for v in x.flatten().tolist())
            return fit(task, {"train": data["train"], "val": data["val"]}, encoders, columns, **kw)

        monkeypatch.setitem(classical.FITS, name, (fit_spy, readable))
    df = numbers(300)
    p = pm.Predictor("y", estimate="holdout", **FAST).fit(df, out=tmp_path / "run")
    assert p.split_sizes_ == {"train": 210, "val": 45, "test": 45} and p.estimate_kind_ == "test"
    never = [i for i in range(len(df)) if ("x1", df["x1"][i]) not in set(seen_by_training)
             and ("x2", df["x2"][i]) not in set(seen_by_training)]
    assert len(never) == 45  # exactly the test rows were never given to training or early stopping, by any model
    # selection reads validation scores only: every fused candidate has them, and they differ from its test scores
    fused = [c for c in p.candidates_ if c.kind == "fusion"]
    assert all(c.val and c.test and c.val != c.test for c in fused)
    assert {c.name for c in p.candidates_ if c.kind == "classical"} == {"lightgbm"}  # it reads numbers natively
    selectable = [c for c in p.candidates_ if c.kind in ("fusion", "probe", "classical", "ensemble")]
    # the ensemble wins only strictly
    assert p.best_ is max(selectable, key=lambda c: (c.val[p.task_.monitor], c.kind != "ensemble"))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    text = "test: 45 rows never used for training or selection (early stopping, choosing the fusion)"
    assert metrics["estimate"] == {"kind": "test", "text": text}
    assert text in (tmp_path / "run" / "report.html").read_text()
    html = (tmp_path / "run" / "report.html").read_text()
    assert "which no candidate saw" not in html  # the old claim, made of validation rows too


def test_from_1000_rows_auto_holds_out_a_test_split():
    p = pm.Predictor("y", baselines=False, **FAST).fit(numbers(1000))
    assert p.estimate_kind_ == "test" and p.split_sizes_ == {"train": 700, "val": 150, "test": 150}


def test_small_tables_get_a_cross_validated_estimate_of_the_whole_selection(tmp_path):
    p = pm.Predictor("y", folds=3, **FAST).fit(numbers(120), out=tmp_path / "run")
    assert p.estimate_kind_ == "cv" and p.split_sizes_["test"] == 0  # the saved model: refitted on every row
    cv = p.cv_
    assert cv["folds"] == 3 and cv["rows"] == 120 and len(cv["per_fold"]) == 3 and len(cv["chosen"]) == 3
    # each fold chooses as the final fit does (LightGBM reads the two numbers; the probe needs cached features)
    assert set(cv["chosen"]) <= {"concat", "gated", "lightgbm", "ensemble"}
    accuracy = [fold["accuracy"] for fold in cv["per_fold"]]
    assert cv["mean"]["accuracy"] == pytest.approx(np.mean(accuracy)) and cv["std"]["accuracy"] >= 0
    assert {"concat", "gated", "only:x1", "only:x2", "lightgbm"} <= set(cv["candidates"])
    assert f"cv_{p.task_.monitor}" in p.comparison_.columns
    run = tmp_path / "run"
    assert "3-fold cross-validated over 120 rows" in (run / "report.html").read_text()
    assert "3-fold cross-validated over 120 rows" in (run / "README.md").read_text()
    assert json.loads((run / "metrics.json").read_text())["cv"]["chosen"] == cv["chosen"]
    log = pd.read_csv(run / "log.csv")
    assert {"fold1:concat", "fold3:gated", "concat"} <= set(log["stage"])  # every fold's training is logged


def test_a_split_column_without_test_rows_is_reported_as_optimistic(tmp_path):
    df = numbers(80).assign(split=["train"] * 60 + ["val"] * 20)
    p = pm.Predictor("y", **FAST).fit(df, out=tmp_path / "run")
    assert p.estimate_kind_ == "val"
    text = "validation: 20 rows used for selection (early stopping, choosing the fusion), so optimistic"
    assert p.estimate_ == text and text in (tmp_path / "run" / "report.html").read_text()


def test_bad_estimate_settings_fail_before_any_work(tmp_path):
    with pytest.raises(PolymodalError, match="unknown estimate 'kfold'"):
        pm.Predictor("y", estimate="kfold").fit(tmp_path / "no-such.csv")
    with pytest.raises(PolymodalError, match="folds must be a whole number of at least 2"):
        pm.Predictor("y", folds=1).fit(tmp_path / "no-such.csv")


def test_evaluate_warns_about_rows_the_fit_used_and_can_leave_them_out(tmp_path):
    df = numbers(300)
    p = pm.Predictor("y", estimate="holdout", **FAST).fit(df, out=tmp_path / "run")
    with pytest.warns(UserWarning, match="255 of 300 rows were used to fit this model"):
        p.evaluate(df)
    back = pm.load(tmp_path / "run")
    with pytest.warns(UserWarning, match="255 of 300 rows"):
        back.evaluate(df)
    unseen = back.evaluate(df, exclude_seen=True)
    assert unseen["accuracy"] == pytest.approx(p.best_.test["accuracy"])  # exactly the held-out rows remain
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rows never seen: no warning
        back.evaluate(numbers(50, seed=1))
    used = seen_mask(read_table(df), back.schema_, back.seen_columns_, back.seen_)
    assert used.sum() == 255
    with pytest.raises(PolymodalError, match="every row was used to fit this model"):
        back.evaluate(df[used], exclude_seen=True)
