"""A time budget for fitting (predict/budget.py, predict/candidates.py). The epoch costs are pinned (the
probe is replaced by fixed figures) and the limits are far from what these small fits take, so every
decision below is the same on a fast or a loaded machine."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.predict import budget as budget_module
from polymodal.predict import candidates as candidates_module
from polymodal.predict import fitting
from polymodal.predict.budget import Budget

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return make_table(tmp_path_factory.mktemp("budget"), rows=36)


@pytest.fixture
def pin_costs(monkeypatch):
    """Pin each neural candidate's epoch cost by name (the order train_once probes them in)."""
    def pin(costs: dict[str, float]):
        def fake(model, task, train, val, *, batch_size, steps=2):
            name = next(n for n in costs if n not in seen)
            seen.append(name)
            return costs[name]

        seen: list[str] = []
        monkeypatch.setattr(candidates_module, "epoch_seconds", fake)

    return pin


def test_candidates_run_cheapest_first_with_the_epochs_that_fit_and_the_rest_are_skipped(table, tmp_path,
                                                                                       pin_costs, monkeypatch):
    pin_costs({"late": 100.0, "concat": 1.0})  # probed in the order of --fusion: late, then concat
    epochs_given = {}
    train = fitting.train

    def spy(model, task, train_data, val_data=None, **kwargs):
        epochs_given[kwargs["desc"]] = kwargs["epochs"]
        assert kwargs["deadline"] is not None
        return train(model, task, train_data, val_data, **kwargs)

    monkeypatch.setattr(fitting, "train", spy)
    p = pm.Predictor("color", fusion="late,concat", encoders=ENCODERS, baselines=False, classical="linear",
                     epochs=3, batch_size=8, hidden=16, estimate="holdout", time_limit=400, progress=False)
    p.fit(table, out=tmp_path / "run")
    # classical first, then concat (1 s an epoch: all 3 epochs fit its half of ~400 s), then late: its share is
    # all that is left (~400 s), enough for 3 of its 100-s epochs
    assert [c.name for c in p.candidates_ if c.kind != "ensemble"] == ["linear-probe", "concat", "late"]
    assert epochs_given == {"concat": 3, "late": 3}
    assert p.skipped_candidates_ == []


def test_a_candidate_without_time_for_one_epoch_is_skipped_and_listed(table, tmp_path, pin_costs):
    pin_costs({"late": 10_000.0, "concat": 1.0})
    p = pm.Predictor("color", fusion="late,concat", encoders=ENCODERS, baselines=False, classical="none",
                     epochs=3, batch_size=8, hidden=16, estimate="holdout", time_limit=600, progress=False)
    p.fit(table, out=tmp_path / "run")
    assert [c.name for c in p.candidates_ if c.kind != "ensemble"] == ["concat"]
    [skipped] = p.skipped_candidates_
    assert skipped["name"] == "late" and skipped["epoch_seconds"] == 10_000.0
    assert "one epoch takes about 10000.0 s" in skipped["reason"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["time_limit"]
    assert saved["seconds"] == 600 and [s["name"] for s in saved["skipped"]] == ["late"]
    assert "1 candidate(s) skipped: late (one epoch takes about" in (tmp_path / "run" / "report.html").read_text()


def test_epochs_shrink_to_the_share_of_the_time_left(table, tmp_path, pin_costs, monkeypatch):
    pin_costs({"concat": 100.0, "late": 10_000.0})
    epochs_given = {}
    train = fitting.train

    def spy(model, task, train_data, val_data=None, **kwargs):
        epochs_given[kwargs["desc"]] = kwargs["epochs"]
        return train(model, task, train_data, val_data, **kwargs)

    monkeypatch.setattr(fitting, "train", spy)
    p = pm.Predictor("color", fusion="concat,late", encoders=ENCODERS, baselines=False, classical="none",
                     epochs=40, batch_size=8, hidden=16, estimate="holdout", time_limit=1000, progress=False)
    p.fit(table)
    # concat's share: half of the ~1000 s left (two candidates), so 4 of its 100-s epochs rather than 40
    assert epochs_given == {"concat": 4}


def test_a_budget_too_small_for_any_candidate_names_the_cheapest_estimate(table, pin_costs):
    pin_costs({"concat": 2.5, "late": 7.0})
    with pytest.raises(PolymodalError, match=r"time_limit=0.001 s is too small: no candidate finished.*the cheapest "
                                             r"neural candidate, concat, needs about 2.5 s an epoch"):
        pm.Predictor("color", fusion="concat,late", encoders=ENCODERS, baselines=False, classical="none",
                     estimate="holdout", time_limit=0.001, progress=False).fit(table)


def test_the_training_loop_starts_no_epoch_it_expects_to_end_after_the_deadline():
    from polymodal.tasks import Classification
    from polymodal.training.data import ArrayData
    from polymodal.training.loop import time, train

    layer = torch.nn.Linear(4, 2)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, inputs, masks):
            return self.layer(inputs["x"])

    task = Classification("y").fit(pd.Series(["a", "b"] * 8))
    data = ArrayData({"x": torch.randn(16, 4)}, {"x": torch.ones(16, dtype=torch.bool)}, torch.arange(16) % 2)
    result, _ = train(Tiny(), task, data, data, epochs=10, batch_size=8, patience=100, progress=False,
                      deadline=time.monotonic())  # already past: the first epoch runs, no second one starts
    assert len(result.history) == 1 and result.stopped_for_time
    result, _ = train(Tiny(), task, data, data, epochs=3, batch_size=8, patience=100, progress=False,
                      deadline=time.monotonic() + 3600)
    assert len(result.history) == 3 and not result.stopped_for_time


def test_stages_share_the_budget_equally(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(budget_module.time, "monotonic", lambda: clock[0])
    b = Budget(300)
    with b.share(3):  # the first of three stages: 100 s
        assert b.left() == pytest.approx(100)
        clock[0] += 40
        with b.share(2):  # inside it, half of the 60 s left
            assert b.left() == pytest.approx(30)
    assert b.left() == pytest.approx(260)  # the outer stage resumes with its own end
    assert Budget(None).left() == float("inf") and not Budget(None).active


@pytest.mark.parametrize("bad", [0, -5, float("nan"), "300", True])
def test_a_bad_time_limit_is_refused_before_any_work(bad, tmp_path):
    with pytest.raises(PolymodalError, match="time_limit must be a positive number of seconds"):
        pm.Predictor("x", time_limit=bad).fit(tmp_path / "no-such-table.csv")


def test_the_cli_takes_a_time_limit(table, tmp_path, capsys, pin_costs):
    pin_costs({"concat": 1.0})
    assert main(["fit", str(table), "--label", "color", "--fusion", "concat", "--classical", "none",
                 "--no-baselines", "--epochs", "2", "--time-limit", "900", "--estimate", "holdout",
                 "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["time_limit"]["seconds"] == 900
    assert main(["fit", str(table), "--label", "color", "--time-limit", "0", "--out", str(tmp_path / "r2")]) == 2
    assert "time_limit must be a positive number" in capsys.readouterr().err
