"""Attacks (training/adversarial.py, predict/attack.py): FGSM is the signed-gradient step and PGD stays in its
ball, a robustness curve falls with the budget for a linear model, a model without gradients is refused with
the way out, adversarial training attacks every batch, and bad settings are refused before any work."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.predict.attack import robustness
from polymodal.tasks import Classification
from polymodal.training import adversarial as adv_module
from polymodal.training.adversarial import perturb
from polymodal.training.data import ArrayData

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}


class Linear(torch.nn.Module):
    modalities = ("x", "t")

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(4, 2)
        torch.nn.init.constant_(self.w.weight, 0.0)
        torch.nn.init.zeros_(self.w.bias)
        with torch.no_grad():
            self.w.weight[1] = torch.tensor([1.0, -2.0, 0.5, 0.0])

    def forward(self, inputs, masks):
        return self.w(inputs["x"])


def _data(n: int = 64) -> ArrayData:
    torch.manual_seed(0)
    x = torch.randn(n, 4)
    y = (x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) > 0).long()
    return ArrayData({"x": x, "t": ["a word"] * n}, {"x": torch.ones(n, dtype=torch.bool),
                                                     "t": torch.ones(n, dtype=torch.bool)}, y)


def _loss(logits, targets):
    return torch.nn.functional.cross_entropy(logits, targets)


def test_fgsm_is_the_signed_gradient_step_and_pgd_stays_in_the_ball():
    model, data = Linear(), _data()
    x = data.inputs["x"]
    fgsm = perturb(model, _loss, data.inputs, data.masks, data.targets, kind="fgsm", epsilon=0.1)
    sigma = x.std(0, keepdim=True)
    xg = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(_loss(model({"x": xg}, None), data.targets), xg)
    torch.testing.assert_close(fgsm["x"], x + 0.1 * sigma * grad.sign())
    assert fgsm["t"] is data.inputs["t"]  # text is not continuous: untouched
    pgd = perturb(model, _loss, data.inputs, data.masks, data.targets, kind="pgd", epsilon=0.1)
    assert ((pgd["x"] - x).abs() <= 0.1 * sigma + 1e-6).all()
    with torch.no_grad():
        clean, attacked = _loss(model(data.inputs, None), data.targets), _loss(model(pgd, None), data.targets)
    assert attacked > clean


def test_the_robustness_curve_falls_with_the_budget():
    task = Classification("y").fit(pd.Series(["0", "1"] * 4))
    curve = robustness(Linear(), task, _data(), kind="fgsm", epsilons=[0.1, 0.5, 1.5])
    every = curve[curve["attacked"].isin(["none", "all"])]
    assert list(every["epsilon"]) == [0.0, 0.1, 0.5, 1.5] and set(curve["attacked"]) == {"none", "all", "x"}
    accuracy = every["accuracy"].tolist()
    assert accuracy[0] == 1.0 and accuracy == sorted(accuracy, reverse=True) and accuracy[-1] < 0.5


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return make_table(tmp_path_factory.mktemp("adv"), rows=45)


def test_adversarial_training_attacks_every_batch_and_the_curve_comes_from_the_cli(table, tmp_path, monkeypatch,
                                                                                   capsys):
    calls = []
    real = adv_module.perturb

    def spy(*args, **kwargs):
        calls.append(kwargs["kind"])
        return real(*args, **kwargs)

    monkeypatch.setattr(adv_module, "perturb", spy)
    p = pm.Predictor("color", fusion="concat", encoders=ENCODERS, classical="none", baselines=False, ensemble=False,
                     adversarial="fgsm", epsilon=0.2, epochs=2, batch_size=16, hidden=16, estimate="holdout",
                     progress=False).fit(table, out=tmp_path / "run")
    assert calls and set(calls) == {"fgsm"}
    assert main(["evaluate", str(tmp_path / "run"), str(table), "--attack", "pgd", "--epsilon", "0.1,0.3",
                 "--exclude-seen"]) == 0
    out = capsys.readouterr().out
    assert "photo" in out and "sound" in out and "0.3" in out
    assert len(p.robustness(table, epsilons=[0.1], exclude_seen=True)) == 1 + 1 + 3  # none, all, 3 columns


def test_a_model_without_gradients_is_refused_with_the_way_out(table):
    p = pm.Predictor("color", fusion="none", classical="lightgbm", encoders=ENCODERS, estimate="holdout",
                     progress=False).fit(table)
    with pytest.raises(PolymodalError, match=r"cannot attack this model: it holds BoostedTrees.*--classical linear"):
        p.robustness(table, exclude_seen=True)


@pytest.mark.parametrize(("settings", "message"), [
    ({"adversarial": "noise"}, "unknown attack 'noise'; valid: fgsm, pgd"),
    ({"adversarial": "fgsm", "epsilon": 0}, "epsilon must be a number in"),
    ({"adversarial": "pgd", "augment": "mixup=0.2"}, "adversarial training and mixup cannot be combined"),
])
def test_bad_settings_are_refused_before_any_work(settings, message, tmp_path):
    with pytest.raises(PolymodalError, match=message):
        pm.Predictor("color", **settings).fit(tmp_path / "no-such-table.csv")
