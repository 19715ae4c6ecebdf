"""Online updates (predict/warm.py, predict/replay.py): a run continued on new rows from its saved weights, with
its replay reservoir against forgetting; the reservoir stays a uniform sample across chained updates; a changed
schema, an unseen label and options a warm start cannot take are refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.predict import replay
from polymodal.training.data import ArrayData

FIT = {"fusion": "concat", "classical": "none", "ensemble": False, "baselines": False, "estimate": "holdout",
       "progress": False}


def _table(n: int, classes: list[int], seed: int) -> pd.DataFrame:
    """Four well-separated classes on six numbers and a category; the rows draw their class from `classes`."""
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, n)
    x = 2.5 * np.eye(4, 6)[y] + rng.normal(size=(n, 6))
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    df["kind"] = np.where(rng.random(n) < 0.5, "a", "b")
    df["label"] = [f"c{v}" for v in y]
    return df


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """A run fitted on classes c0 and c1 mostly (c2, c3 rare), and the evaluation rows of both halves."""
    run = tmp_path_factory.mktemp("warm") / "first"
    old = _table(500, [0, 0, 0, 0, 1, 1, 1, 1, 2, 3], seed=1)
    pm.Predictor("label", epochs=15, replay=400, **FIT).fit(old, out=run)
    return run, _table(300, [0, 1], seed=9), _table(300, [2, 3], seed=10)


def _accuracy(p, df: pd.DataFrame) -> float:
    return float((p.predict(df).to_numpy() == df["label"].to_numpy()).mean())


def test_a_fit_keeps_a_reservoir_of_its_training_and_validation_rows(first):
    run, _, _ = first
    meta = json.loads((run / "replay" / "replay.json").read_text())
    assert meta["rows"] == 400 and meta["seen"] == 425, meta  # 350 training + 75 validation rows of 500
    assert meta["plan"]["fusions"] == ["concat"] and meta["columns"] == ["tabular"]
    kept, encoders = replay.load(run)
    assert set(np.unique(kept.split)) == {replay.TRAIN, replay.VAL} and list(encoders) == ["tabular"]


def test_replay_keeps_what_plain_fine_tuning_forgets(first, tmp_path):
    """The new rows hold only c2 and c3: fine-tuned on them alone, the model forgets c0 and c1; replaying the
    reservoir keeps them, and both learn the new classes."""
    run, old_rows, new_rows = first
    new = _table(400, [2, 3], seed=2)
    replayed = pm.Predictor("label", warm_start=run, epochs=15, **FIT).fit(new, out=tmp_path / "replayed")
    plain = pm.Predictor("label", warm_start=run, epochs=15, replay=0, **FIT).fit(new, out=tmp_path / "plain")
    before = pm.load(run)
    assert replayed.warm_info_["warm_started"] == ["concat"] and replayed.warm_info_["replayed"]["train"] > 0
    assert plain.warm_info_["replayed"] == {"train": 0, "val": 0}
    assert _accuracy(before, old_rows) > 0.85
    assert _accuracy(replayed, old_rows) > 0.8, "replay keeps the old classes"  # 0.92 here
    assert _accuracy(plain, old_rows) < 0.6, "fine-tuning on c2/c3 alone forgets c0/c1"
    assert _accuracy(replayed, new_rows) > 0.8 and _accuracy(plain, new_rows) > 0.8  # 0.89, 0.94 here
    assert not (tmp_path / "plain" / "replay").exists(), "replay=0 keeps no reservoir"
    html = (tmp_path / "replayed" / "report.html").read_text()
    assert "Online update" in html and "Before and after the update" in html
    summary = json.loads((tmp_path / "replayed" / "metrics.json").read_text())["warm_start"]
    assert {r["model"] for r in summary["before_after"]} == {"before", "after"}


def test_the_update_starts_from_the_saved_weights(first, tmp_path):
    """With a learning rate too small to move them, the updated model predicts what the run's model does."""
    run, old_rows, _ = first
    new = _table(200, [0, 1, 2, 3], seed=3)
    still = pm.Predictor("label", warm_start=run, epochs=1, lr=1e-12, **FIT).fit(new, out=tmp_path / "still")
    before = pm.load(run)
    # both compute the same weights' outputs; only float summation order may differ
    np.testing.assert_allclose(still.predict_proba(old_rows).filter(like="proba_").to_numpy(),
                               before.predict_proba(old_rows).filter(like="proba_").to_numpy(), atol=1e-5)


def test_reservoir_sampling_is_uniform_across_chained_updates():
    """Rows 0..999 in four updates into a reservoir of 100: each row is kept with probability 0.1, whichever update
    brought it (algorithm R). Over 300 seeds, a block of 250 rows expects 7,500 kept, with a standard deviation of
    about 82 (binomial, sd = sqrt(75000 * 0.1 * 0.9)); 5 sd is 410."""
    counts = np.zeros(1000)
    for seed in range(300):
        kept = None
        for chunk in range(4):
            ids = torch.arange(chunk * 250, (chunk + 1) * 250, dtype=torch.float32).unsqueeze(1)
            data = ArrayData({"a": ids}, {"a": torch.ones(250, dtype=torch.bool)}, torch.zeros(250, dtype=torch.long))
            parts = {"train": np.arange(200), "val": np.arange(200, 250)}
            kept = replay.draw(kept, data, parts, 100, {}, seed=seed * 10 + chunk)
        assert len(kept) == 100 and kept.seen == 1000
        counts[kept.data.inputs["a"][:, 0].long().numpy()] += 1
    blocks = counts.reshape(4, 250).sum(1)
    assert np.all(np.abs(blocks - 7500) < 410), blocks


def test_a_changed_schema_or_an_unseen_label_is_refused(first, tmp_path):
    run, _, _ = first
    new = _table(100, [0, 1, 2, 3], seed=4)
    warm = pm.Predictor("label", warm_start=run, epochs=1, **FIT)
    with pytest.raises(PolymodalError, match="no column 'x1'"):
        warm.fit(new.drop(columns=["x1"]))
    with pytest.raises(PolymodalError, match="a new column 'extra'"):
        warm.fit(new.assign(extra=np.arange(len(new)) * 0.5))
    bad = new.copy()
    bad.loc[5, "label"] = "c7"
    with pytest.raises(PolymodalError, match=r"never saw: 'c7' \(rows 5\)"):
        warm.fit(bad)
    with pytest.raises(PolymodalError, match="keeps the run's label"):
        pm.Predictor("kind", warm_start=run, **FIT).fit(new)


@pytest.mark.parametrize("option", [{"bag_folds": 3}, {"estimate": "cv"}, {"augment": "mixup=0.2"},
                                    {"denoise": 0.5}, {"replay": -1}, {"replay": 1.5}])
def test_options_a_warm_start_cannot_take_are_refused_before_any_work(option, tmp_path):
    with pytest.raises(PolymodalError, match=r"warm start|replay must be"):
        pm.Predictor("label", warm_start=tmp_path / "no-such-run", **{**FIT, **option}).fit(tmp_path / "none.csv")


def test_the_command_line_takes_the_run_label_and_refuses_flags_that_reshape_it(first, tmp_path, capsys):
    run, _, _ = first
    path = tmp_path / "new.csv"
    _table(160, [0, 1, 2, 3], seed=5).to_csv(path, index=False)
    assert main(["fit", str(path), "--warm-start", str(run), "--epochs", "2", "--out", str(tmp_path / "cli")]) == 0
    assert pm.load(tmp_path / "cli").labels == ["label"]
    assert main(["fit", str(path), "--warm-start", str(run), "--fusion", "gated"]) == 2
    assert "--fusion: a warm start continues the run's own candidates" in capsys.readouterr().err
