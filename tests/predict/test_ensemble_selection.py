"""Ensemble selection (predict/selection.py) and the saved ensemble (predict/weighted.py): the weights,
the choice against the best single candidate, and an ensemble run that saves, reloads, predicts, and
refuses clearly what it cannot do (embed, export)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.export.runtime import head_runner
from polymodal.predict.fitting import Candidate
from polymodal.predict.selection import ensemble_selection
from polymodal.predict.weighted import WeightedEnsemble


def _onehot(pred, classes=3, confidence=0.8):
    out = np.full((len(pred), classes), (1 - confidence) / (classes - 1))
    out[np.arange(len(pred)), pred] = confidence
    return out


def test_complementary_candidates_share_the_weight_and_beat_each_alone():
    targets = np.arange(60) % 3
    a = targets.copy()
    a[:20] = (targets[:20] + 1) % 3  # wrong on the first third
    b = targets.copy()
    b[20:40] = (targets[20:40] + 1) % 3  # wrong on the second
    c = targets.copy()
    c[40:] = (targets[40:] + 1) % 3  # wrong on the last
    probas = [_onehot(a), _onehot(b), _onehot(c), np.full((60, 3), 1 / 3)]
    weights = ensemble_selection(probas, targets)
    assert weights.sum() == pytest.approx(1) and weights[3] == 0  # the uninformative one is never picked
    assert (weights[:3] > 0).all()
    mean = sum(w * p for w, p in zip(weights, probas, strict=True))
    assert (mean.argmax(1) == targets).mean() == 1.0  # each alone: 2/3


def test_a_dominant_candidate_keeps_all_the_weight():
    targets = np.arange(30) % 3
    worse = targets.copy()
    worse[:10] = (targets[:10] + 1) % 3
    weights = ensemble_selection([_onehot(worse), _onehot(targets, confidence=0.9)], targets)
    assert weights.tolist() == [0.0, 1.0]  # the best round is the first, the best model alone


def test_the_ensemble_module_averages_probabilities_with_its_weights():
    class Fixed(torch.nn.Module):
        def __init__(self, logits, column):
            super().__init__()
            self.logits, self.modalities = torch.tensor(logits), [column]

        def forward(self, inputs, masks):
            return self.logits.expand(len(masks[self.modalities[0]]), -1)

    members = [Fixed([2.0, 0.0], "a"), Fixed([0.0, 1.0], "b")]
    model = WeightedEnsemble(members, [0.75, 0.25])
    masks = {"a": torch.ones(2, dtype=torch.bool), "b": torch.ones(2, dtype=torch.bool)}
    expected = 0.75 * torch.softmax(torch.tensor([2.0, 0.0]), 0) + 0.25 * torch.softmax(torch.tensor([0.0, 1.0]), 0)
    assert torch.allclose(torch.exp(model({}, masks))[0], expected, atol=1e-6)
    assert model.modalities == ["a", "b"]


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    """A fit whose saved model is made an ensemble of two of its own candidates (whichever the selection
    would have chosen, the save/load/predict path is the same)."""
    folder = tmp_path_factory.mktemp("ens")
    table = make_table(folder, rows=48)
    p = pm.Predictor("color", fusion="concat,late", encoders={"image": "cnn:image_size=16:width=4:out_dim=16",
                                                              "audio": "mfcc", "text": "gru"},
                     epochs=2, batch_size=16, hidden=16, estimate="holdout", progress=False)
    p.fit(table)
    late, probe = (next(c for c in p.candidates_ if c.name == name) for name in ("late", "linear-probe"))
    parts = [{"name": c.name, "kind": c.kind, "fusion": c.fusion, "columns": c.columns, "fusion_options": {},
              "weight": w} for c, w in ((late, 0.6), (probe, 0.4))]
    ens = Candidate("ensemble", "ensemble", "ensemble", p.columns_,
                    model=WeightedEnsemble([late.model, probe.model], [0.6, 0.4]), parts=parts)
    p.candidates_ = [c for c in p.candidates_ if c.kind != "ensemble"] + [ens]
    p._choose_best(ens)
    run = p.save(folder / "run")
    return p, run, table


@pytest.mark.slow
def test_an_ensemble_run_saves_its_members_and_reloads_to_the_same_predictions(ensemble_run):
    p, run, table = ensemble_run
    model = json.loads((run / "model.json").read_text())
    assert model["fusion"] == "ensemble" and [m["name"] for m in model["members"]] == ["late", "linear-probe"]
    assert [m["weight"] for m in model["members"]] == [0.6, 0.4]
    again = pm.load(run)
    assert isinstance(again.model_, WeightedEnsemble)
    pd.testing.assert_frame_equal(p.predict_proba(table), again.predict_proba(table))
    assert "through an **ensemble** of `late` (0.60), `linear-probe` (0.40)" in (run / "README.md").read_text()


@pytest.mark.slow
def test_an_ensemble_refuses_to_embed_and_exports_only_members_that_trace(ensemble_run):
    _, run, table = ensemble_run
    again = pm.load(run)
    with pytest.raises(PolymodalError, match=r"cannot embed rows: the saved model is an ensemble.*--no-ensemble"):
        again.embed(table)
    # one graph for the whole ensemble (tests/predict/test_tree_tensors.py), but this one's `late` member reads the
    # caption through `gru`, which tokenises in Python: the error names the column
    with pytest.raises(PolymodalError, match=r"cannot export this model to ONNX:\n  column 'caption': encoder 'gru'"):
        head_runner(again.model_, "onnx")


@pytest.mark.slow
def test_in_a_fit_the_ensemble_is_saved_only_when_it_beats_every_single_candidate(tmp_path):
    """The shapes table of tests/predict/test_predictor.py, where the selection wins on validation."""
    from polymodal.data.recipes import build

    from .test_predictor import ENCODERS, IGNORE

    table = build("shapes", tmp_path / "shapes", size=96, seed=0)
    p = pm.Predictor("shape", fusion="concat,late", encoders=ENCODERS, overrides=IGNORE, epochs=25, batch_size=16,
                     lr=3e-3, hidden=32, progress=False).fit(table, out=tmp_path / "run")
    rows = {c.name: c for c in p.candidates_}
    monitor = p.task_.monitor
    best_single = max(c.val[monitor] for c in p.candidates_ if c.kind in ("fusion", "probe"))
    ens = rows.get("ensemble")  # on this machine the selection keeps several members; where it keeps one there is
    if ens is None:             # no ensemble row, and the saved model must be that single candidate
        assert p.best_.kind in ("fusion", "probe") and p.best_.val[monitor] == best_single
    else:
        assert len(ens.parts) >= 2 and sum(m["weight"] for m in ens.parts) == pytest.approx(1)
        assert ens.val[monitor] >= best_single  # the first round is the best single candidate: never below it
        assert (p.best_.name == "ensemble") == (ens.val[monitor] > best_single)
    again = pm.load(tmp_path / "run")
    pd.testing.assert_frame_equal(p.predict_proba(table), again.predict_proba(table))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["chosen"] == p.best_.name
