"""The linear probe candidate (predict/probe.py, fusion/linear.py): fitted by scikit-learn on the cached
features, in the comparison, chosen when best on validation, and then saved, reloaded, exported and
robust to a missing modality like any fused model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.export.runtime import head_runner, logits
from polymodal.predict.probe import fit_probe
from polymodal.tasks import Classification, Regression
from polymodal.training.data import ArrayData

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}


@pytest.fixture(scope="module")
def colors(tmp_path_factory):
    return make_table(tmp_path_factory.mktemp("probe-data"), rows=60)


@pytest.fixture(scope="module")
def probe_chosen(colors, tmp_path_factory):
    """The neural candidate trained for one epoch at a tiny learning rate: the probe must win, and does."""
    run = tmp_path_factory.mktemp("probe-runs") / "run"
    p = pm.Predictor("color", encoders=ENCODERS, epochs=1, lr=1e-6, batch_size=16, hidden=16, baselines=False,
                     estimate="holdout", progress=False)
    return p.fit(colors, out=run), run


def _toy(n=90, d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(size=(n, d)) + 1.5 * np.eye(classes, d)[y] * 3 + 10.0  # offset and scale: standardising matters
    present = torch.ones(n, dtype=torch.bool)
    return ArrayData({"a": torch.tensor(x, dtype=torch.float32)}, {"a": present}, torch.tensor(y)), x, y


class Fixed(torch.nn.Module):
    """A frozen, pretrained stand-in: the probe reads cached features of such encoders only."""

    def __init__(self, dim):
        super().__init__()
        self.out_dim, self.mode, self.pretrained = dim, "frozen", True


def test_the_probe_is_scikit_learns_logistic_regression_on_standardised_features():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    data, x, y = _toy()
    task = Classification("y")
    task.classes = ["0", "1", "2"]
    cand = fit_probe(task, {"train": data, "val": data}, {"a": Fixed(6)}, ["a"])
    strength = cand.history[cand.best_epoch]["strength"]
    ref = LogisticRegression(C=strength, max_iter=500).fit(StandardScaler().fit_transform(x), y)
    ours = torch.softmax(cand.model(data.inputs, data.masks), 1).detach().numpy()
    theirs = ref.predict_proba(StandardScaler().fit_transform(x))
    # two L-BFGS solves of the same problem (ours has a presence column the intercept absorbs), each stopped at
    # scikit-learn's tolerance, then float32 weights: equal to about 1e-3
    np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_a_binary_probe_gives_the_probabilities_of_its_single_decision_function():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    data, x, y = _toy(classes=2)
    task = Classification("y")
    task.classes = ["0", "1"]
    cand = fit_probe(task, {"train": data, "val": data}, {"a": Fixed(6)}, ["a"])
    ours = torch.softmax(cand.model(data.inputs, data.masks), 1).detach().numpy()
    ref = LogisticRegression(C=cand.history[cand.best_epoch]["strength"], max_iter=500)
    theirs = ref.fit(StandardScaler().fit_transform(x), y).predict_proba(StandardScaler().fit_transform(x))
    assert ours.shape == (90, 2)
    np.testing.assert_allclose(ours, theirs, atol=2e-3)  # as above: two solves of one problem, float32 weights


def test_regression_uses_ridge_with_its_strength_chosen_on_validation():
    data, x, _ = _toy()
    target = torch.tensor(x[:, 0] * 2.0 - x[:, 1], dtype=torch.float32)
    task = Regression("y")
    train = ArrayData(data.inputs, data.masks, target)
    cand = fit_probe(task, {"train": train, "val": train}, {"a": Fixed(6)}, ["a"])
    pred = cand.model(train.inputs, train.masks)[:, 0].detach()
    assert cand.history[cand.best_epoch]["strength"] == 0.1  # the weakest ridge fits an exact linear target best
    assert float(((pred - target) ** 2).mean().sqrt()) < 0.05


@pytest.mark.slow
def test_the_probe_is_chosen_when_best_and_saves_loads_and_exports(probe_chosen, colors, tmp_path):
    p, run = probe_chosen
    rows = p.comparison_.set_index("name")
    assert rows.loc["linear-probe", "kind"] == "probe"
    assert p.best_.name == "linear-probe" and p.fusion_ == "linear"
    assert rows.loc["linear-probe", "val_balanced_accuracy"] > rows.loc["concat", "val_balanced_accuracy"]
    assert p.best_.columns == ["sound"]  # the only cached features here: image and text encoders train from scratch
    again = pm.load(run)
    pd.testing.assert_frame_equal(p.predict_proba(colors), again.predict_proba(colors))
    _, arrays = again._inputs(colors)
    torch_logits = again.model_.eval()(*arrays.take(torch.arange(len(arrays)))[:2]).detach()
    onnx_logits = logits(head_runner(again.model_, "onnx"), arrays)
    np.testing.assert_allclose(onnx_logits.numpy(), torch_logits.numpy(), atol=1e-4)  # ONNX Runtime's float32 kernels


@pytest.mark.slow
def test_a_missing_modality_leaves_the_probe_its_other_evidence(probe_chosen, colors):
    p, _ = probe_chosen
    rows = [r for r in p.missing_ if r["name"] == "linear-probe"]
    assert sorted(r["condition"] for r in rows) == ["all", "no caption", "no photo", "no sound", "no weight"]
    with pytest.warns(UserWarning, match="were used to fit this model"):
        no_sound = p.evaluate(colors, drop="sound")
    assert np.isfinite(no_sound["log_loss"]) and no_sound["accuracy"] <= 0.5  # sound was its only input


def test_classical_none_has_no_probe_and_an_unknown_name_is_refused(colors, tmp_path):
    with pytest.raises(PolymodalError, match=r"unknown classical candidate\(s\) 'svm'; valid: linear, lightgbm, knn"):
        pm.Predictor("color", classical="linear,svm").fit(colors, out=tmp_path / "r")
    p = pm.Predictor("color", encoders=ENCODERS, epochs=1, batch_size=16, hidden=16, baselines=False,
                     classical="none", estimate="holdout", progress=False).fit(colors)
    assert p.comparison_["name"].tolist() == ["concat"]


def test_the_command_line_names_an_unknown_classical_candidate(colors, tmp_path, capsys):
    from polymodal.cli import main

    assert main(["fit", str(colors), "--label", "color", "--classical", "svm", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown classical candidate(s) 'svm'; valid: linear, lightgbm, knn, or none" in err
    assert "fold" not in err  # refused before any work
