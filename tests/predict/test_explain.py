"""Which modality mattered (predict/explain.py): Shapley values over modalities equal the textbook
definition on a model whose game is known, add up to each prediction, are 0 for a modality a row lacks; the
sampled estimate approaches the exact one; permutation importance sees no drop for an unused modality; the
fit's report and metrics carry them; `polymodal explain` and `predict --explain` give them per row."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.predict.explain import permutation_importance, shapley
from polymodal.tasks import Classification
from polymodal.training.data import ArrayData

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}


class Game(torch.nn.Module):
    """Two classes; the score of class 1 is a + 2b + ab (an interaction) from the presence bits, scaled by each
    row's `x`; modality c changes nothing."""

    modalities = ("a", "b", "c")

    def forward(self, inputs, masks):
        a, b = masks["a"].double(), masks["b"].double()
        score = (a + 2 * b + a * b) * inputs["x"].double()
        return torch.stack([torch.zeros_like(score), score], 1).float()


def _data(n: int = 6, present: dict | None = None) -> ArrayData:
    masks = {m: torch.ones(n, dtype=torch.bool) for m in "abc"}
    for m, rows in (present or {}).items():
        masks[m][rows] = False
    x = torch.linspace(0.2, 1.0, n)
    return ArrayData({"x": x, "a": torch.zeros(n, 1), "b": torch.zeros(n, 1), "c": torch.zeros(n, 1)}, masks,
                     torch.ones(n, dtype=torch.long))


def _task() -> Classification:
    return Classification("y").fit(pd.Series(["no", "yes"] * 3))


def _by_orderings(model, data, row: int) -> dict[str, float]:
    """The definition: a modality's value is its average marginal contribution over every ordering."""
    def value(shown):
        masks = {m: data.masks[m] & torch.tensor(m in shown) for m in "abc"}
        logits = model(data.inputs, masks)[row]
        return float(torch.softmax(logits.double(), 0)[1])  # class 1: what the full model predicts here

    out = dict.fromkeys("abc", 0.0)
    orders = list(itertools.permutations("abc"))
    for order in orders:
        for i, m in enumerate(order):
            out[m] += (value(set(order[: i + 1])) - value(set(order[:i]))) / len(orders)
    return out


def test_exact_values_equal_the_definition_add_up_and_ignore_a_useless_modality():
    model, data = Game(), _data()
    phi, base, full = shapley(model, data, _task())
    for row in range(len(data)):
        expected = _by_orderings(model, data, row)
        assert phi.loc[row].to_dict() == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(base + phi.sum(axis=1).to_numpy(), full, atol=1e-6)  # they add up
    assert (phi["c"] == 0).all()  # c changes nothing, so it gets nothing
    assert (phi["b"] > phi["a"]).all()  # b weighs twice a; the interaction is split evenly


def test_a_modality_a_row_lacks_gets_exactly_nothing():
    phi, _, _ = shapley(Game(), _data(present={"a": [0, 3]}), _task())
    assert phi.loc[[0, 3], "a"].tolist() == [0.0, 0.0] and (phi.loc[[1, 2, 4, 5], "a"] > 0).all()


def test_sampled_orderings_estimate_the_exact_values():
    model, data = Game(), _data()
    exact, _, _ = shapley(model, data, _task())
    sampled, _, _ = shapley(model, data, _task(), exact_up_to=1, samples=400, seed=0)
    # 400 orderings of 3 modalities: each of the 6 orderings drawn ~67 times; the estimate is within a few 0.01
    np.testing.assert_allclose(sampled.to_numpy(), exact.to_numpy(), atol=0.03)
    np.testing.assert_allclose(sampled.sum(axis=1), exact.sum(axis=1), atol=1e-6)  # every ordering adds up exactly


def test_permutation_importance_sees_no_drop_for_an_unused_modality():
    class OnlyA(torch.nn.Module):
        modalities = ("a", "c")

        def forward(self, inputs, masks):
            s = inputs["a"][:, 0] * masks["a"]
            return torch.stack([-s, s], 1)

    n = 40
    a = torch.linspace(-1, 1, n)[:, None]
    data = ArrayData({"a": a, "c": torch.randn(n, 1)}, {"a": torch.ones(n, dtype=torch.bool),
                                                        "c": torch.ones(n, dtype=torch.bool)}, (a[:, 0] > 0).long())
    table = permutation_importance(OnlyA(), data, _task(), repeats=5)
    drops = dict(zip(table["modality"], table["drop"], strict=True))
    assert drops["c"] == 0.0 and drops["a"] > 0.2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    table = make_table(folder, rows=48)
    p = pm.Predictor("color", fusion="concat", encoders=ENCODERS, classical="none", baselines=False, epochs=3,
                     batch_size=16, hidden=16, estimate="holdout", progress=False).fit(table, out=folder / "run")
    return p, folder / "run", table


def test_a_fit_reports_which_modality_mattered(run):
    p, path, _ = run
    rows = json.loads((path / "metrics.json").read_text())["modality_importance"]
    assert {r["modality"] for r in rows} == set(p.model_.modalities)
    assert all(r["mean_abs_shapley"] >= 0 for r in rows if r["column"] == r["modality"])
    assert {r["column"] for r in rows if r["modality"] == "weight"} == {"weight"}  # one number: no group
    assert "Which modality mattered" in (path / "report.html").read_text()
    assert (path / "plots" / "mattered.png").exists()


def test_explain_gives_per_row_values_that_add_up_to_the_prediction(run):
    p, _, table = run
    result = pm.load(run[1]).explain(table, rows=10)
    rows = result["contributions"]
    assert len(rows) == 10 and {f"shapley_{m}" for m in p.model_.modalities} <= set(rows.columns)
    parts = rows[[f"shapley_{m}" for m in p.model_.modalities]].sum(axis=1) + rows["base"]
    np.testing.assert_allclose(parts, rows["prediction"], atol=1e-5)
    proba = p.predict_proba(table).iloc[:10].filter(like="proba_").max(axis=1).to_numpy()
    np.testing.assert_allclose(rows["prediction"], proba, atol=1e-5)  # the predicted class's probability
    assert result["permutation"] is not None and set(result["mean_abs"].index) == set(p.model_.modalities)


def test_the_cli_writes_an_explanation_and_predict_adds_the_values(run, tmp_path, capsys):
    _, path, table = run
    assert main(["explain", str(path), str(table), "--rows", "12", "-o", str(tmp_path / "e.html")]) == 0
    assert "Shapley" in (tmp_path / "e.html").read_text()
    assert main(["predict", str(path), str(table), "--explain", "-o", str(tmp_path / "p.csv")]) == 0
    out = pd.read_csv(tmp_path / "p.csv")
    assert {"shapley_photo", "base", "prediction", "color"} <= set(out.columns) and len(out) == 48


def test_a_task_it_does_not_cover_is_refused_clearly(tmp_path):
    df = pd.read_csv(make_table(tmp_path, rows=30))
    df["tags"] = [["red|big", "blue", "red"][i % 3] for i in range(len(df))]
    df.drop(columns=["color"]).to_csv(tmp_path / "multi.csv", index=False)
    p = pm.Predictor("tags", task="multilabel", fusion="concat", encoders=ENCODERS, classical="none",
                     baselines=False, epochs=1, estimate="holdout", progress=False).fit(tmp_path / "multi.csv")
    with pytest.raises(PolymodalError, match="explanations cover single-label classification and regression; this "
                                             "run's task is multilabel"):
        p.explain(tmp_path / "multi.csv")
    assert math.isfinite(p.best_.val[p.task_.monitor])
