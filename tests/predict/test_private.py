"""Differential privacy (`dp_epsilon=`, training/private.py, predict/private.py): a private fit trains its one fusion
by DP-SGD within the budget and reports the epsilon spent; noise costs accuracy at a small budget; bad values and
options a private fit cannot take are refused before any work."""

from __future__ import annotations

import json

import pytest
from tests.predict.test_warm import _table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main

FIT = {"fusion": "concat", "epochs": 4, "estimate": "holdout", "progress": False}


@pytest.fixture(scope="module")
def rows():
    return _table(800, [0, 1, 2, 3], seed=1)


def test_a_private_fit_reports_the_epsilon_it_spent_within_its_budget(rows, tmp_path):
    p = pm.Predictor("label", dp_epsilon=2.0, **FIT).fit(rows, out=tmp_path / "run")
    privacy = p.best_.privacy
    # the noise is the smallest whose planned steps fit the target, so the spent epsilon is the target's to within the
    # accountant's search tolerance (1%)
    assert 0 < privacy["epsilon_spent"] <= 2.0 * 1.01 and privacy["epsilon_spent"] > 1.5, privacy
    assert privacy["steps"] > 0 and privacy["noise_multiplier"] > 0.5 and privacy["delta"] == 1e-5
    assert [c.name for c in p.candidates_] == ["concat"], "no baselines, classical candidates or ensemble"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["privacy"] == privacy
    assert "Differentially private" in (tmp_path / "run" / "report.html").read_text()
    assert pm.load(tmp_path / "run").predict(rows.head(5)).notna().all()


def test_a_small_budget_costs_accuracy(rows):
    """At epsilon 0.05 the noise (multiplier above 50) drowns the gradients of a few hundred rows."""
    free = pm.Predictor("label", **FIT, classical="none", baselines=False).fit(rows)
    tight = pm.Predictor("label", dp_epsilon=0.05, **FIT).fit(rows)
    assert tight.best_.privacy["noise_multiplier"] > 20
    assert tight.best_.test["accuracy"] < free.best_.test["accuracy"] - 0.15, (tight.best_.test, free.best_.test)


@pytest.mark.parametrize(("option", "message"), [
    ({"dp_epsilon": 0}, "dp_epsilon"), ({"dp_epsilon": -1.0}, "dp_epsilon"), ({"dp_epsilon": "1"}, "dp_epsilon"),
    ({"dp_epsilon": 1.0, "dp_delta": 1.0}, "dp_delta"), ({"dp_epsilon": 1.0, "dp_clip": 0}, "dp_clip"),
    ({"dp_epsilon": 1.0, "fusion": "concat,gated"}, "trains one fusion"),
    ({"dp_epsilon": 1.0, "bag_folds": 3}, "bag_folds"), ({"dp_epsilon": 1.0, "imbalance": "sampler"}, "sampler"),
    ({"dp_epsilon": 1.0, "augment": "mixup=0.2"}, "augment")])
def test_bad_values_and_options_are_refused_before_any_work(option, message, tmp_path):
    with pytest.raises(PolymodalError, match=message):
        pm.Predictor("label", **{**FIT, **option}).fit(tmp_path / "no-such-table.csv")


def test_the_command_line_fits_privately(rows, tmp_path):
    path = tmp_path / "rows.csv"
    rows.head(600).to_csv(path, index=False)
    out = tmp_path / "cli"
    assert main(["fit", str(path), "--label", "label", "--dp-epsilon", "4", "--dp-delta", "1e-4", "--epochs", "2",
                 "--out", str(out)]) == 0
    privacy = json.loads((out / "metrics.json").read_text())["privacy"]
    assert privacy["epsilon_target"] == 4 and privacy["delta"] == 1e-4 and 0 < privacy["epsilon_spent"] <= 4.04
