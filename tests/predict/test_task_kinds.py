"""Every task kind through the whole Predictor (fit, metrics, save, load, predict), on small tables of
numbers and categories that the tests draw themselves: regression, multi-label, multi-task with loss
weights, and the class-imbalance options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main

# These tests are about task kinds: one fit each (a 70/15/15 split), not a cross-validation of small tables.
FAST = {"epochs": 30, "batch_size": 32, "hidden": 32, "baselines": False, "progress": False, "patience": 30,
        "estimate": "holdout"}


def _table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Two numeric modalities and a category; every label below is a function of them plus noise. No split
    column: polymodal holds out a seeded 20% for validation, the split these tests score."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    tags = ["|".join(t for t, on in (("up", a > 0), ("right", b > 0), ("warm", c == "red")) if on) or "none"
            for a, b, c in zip(x1, x2, colour, strict=True)]
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour,
                         "value": 3.0 * x1 - 2.0 * x2 + (colour == "blue") * 2.0 + rng.normal(0, 0.1, n),
                         "side": np.where(x1 + 0.5 * x2 > 0, "pos", "neg"), "tags": tags})


LABELS = ["value", "side", "tags"]


def _ignore(*keep: str) -> dict:
    return {c: "ignore" for c in LABELS if c not in keep}


def test_regression_fits_saves_and_reloads(tmp_path):
    df = _table()
    p = pm.Predictor("value", fusion="concat", overrides=_ignore("value"), **FAST).fit(df, out=tmp_path / "run")
    assert p.task_.kind == "regression"
    assert p.best_.val["r2"] > 0.9, p.best_.val  # the target is linear in the inputs
    assert {"mae", "rmse", "r2"} <= set(p.best_.val)
    again = pm.load(tmp_path / "run")
    pd.testing.assert_frame_equal(p.predict_proba(df), again.predict_proba(df))
    assert np.corrcoef(again.predict(df).astype(float), df["value"])[0, 1] > 0.95


def test_multilabel_learns_each_tag():
    df = _table()
    p = pm.Predictor("tags", fusion="concat", overrides=_ignore("tags"), **FAST).fit(df)
    assert p.task_.kind == "multilabel"
    assert p.best_.val["f1_micro"] > 0.85, p.best_.val
    out = p.predict_proba(df.head(5))
    assert {"tags", "proba_tags_up", "proba_tags_right", "proba_tags_warm"} <= set(out.columns)


def test_multitask_loss_weights_take_effect_and_are_saved(tmp_path):
    df = _table()
    labels = ["value", "side"]
    both = pm.Predictor(labels, fusion="concat", overrides=_ignore(*labels), **FAST).fit(df)
    muted = pm.Predictor(labels, fusion="concat", overrides=_ignore(*labels), label_weights={"side": 0.0},
                         **FAST).fit(df, out=tmp_path / "run")
    assert both.best_.val["side"]["accuracy"] > 0.9 and both.best_.val["value"]["r2"] > 0.9
    # with no weight on its loss the `side` head is never trained: it stays near chance (0.5)
    assert muted.best_.val["side"]["accuracy"] < 0.75 and muted.best_.val["value"]["r2"] > 0.9
    again = pm.load(tmp_path / "run")
    assert again.task_.weights == [1.0, 0.0] and again.label_weights == {"side": 0.0}
    assert list(again.predict(df.head(3)).columns) == labels


def test_label_weights_are_checked_before_any_work():
    df = _table(n=40)
    for weights, message in (({"colour": 2.0}, "not a label of this fit"), ({"side": -1.0}, "not negative"),
                             ({"side": float("nan")}, "finite"), ({"side": 0.0, "value": 0.0}, "not all zero")):
        with pytest.raises(PolymodalError, match=message):
            pm.Predictor(["value", "side"], label_weights=weights, overrides=_ignore("value", "side"), **FAST).fit(df)
    with pytest.raises(PolymodalError, match="this fit has one label"):
        pm.Predictor("side", label_weights={"side": 2.0}, overrides=_ignore("side"), **FAST).fit(df)


def _imbalanced(n: int = 600, seed: int = 1) -> pd.DataFrame:
    """A rare class (about 7% of rows) that overlaps the common one: an unweighted model mostly ignores it."""
    rng = np.random.default_rng(seed)
    rare = rng.random(n) < 0.07
    x = rng.normal(size=n) + 1.6 * rare
    return pd.DataFrame({"x": x, "noise": rng.normal(size=n), "kind": np.where(rare, "rare", "common")})


@pytest.mark.parametrize("imbalance", ["weighted", "focal", "sampler"])
def test_imbalance_options_recall_more_of_the_rare_class(imbalance):
    df = _imbalanced()
    recall = {}
    for option in ("none", imbalance):
        p = pm.Predictor("kind", fusion="concat", imbalance=option, **FAST).fit(df)
        pred, true = p.predict(df).to_numpy(), df["kind"].to_numpy()
        recall[option] = float((pred[true == "rare"] == "rare").mean())
    assert recall[imbalance] > recall["none"] + 0.2, recall


def test_sampler_with_several_labels_draws_rare_classes_of_each(tmp_path):
    from polymodal.tasks import make_task

    df = _imbalanced().assign(other=lambda d: np.where(d["noise"] > 1.2, "few", "many"))
    task = make_task(df, ["kind", "other"], imbalance="sampler")
    weights = task.sample_weights(task.encode(df))
    assert weights is not None and len(weights) == len(df)
    for column, rare, common in (("kind", "rare", "common"), ("other", "few", "many")):
        is_rare = torch.tensor((df[column] == rare).to_numpy())
        assert weights[is_rare].mean() > 2 * weights[~is_rare].mean(), (column, common)


def test_imbalance_needs_a_classification_label():
    with pytest.raises(PolymodalError, match="'value' is regression"):
        pm.Predictor("value", imbalance="focal", overrides=_ignore("value"), **FAST).fit(_table(n=40))


def test_require_all_model_refuses_a_table_without_a_column(tmp_path):
    df = _table(n=120)
    p = pm.Predictor("side", fusion="concat", require_all=True, overrides=_ignore("side"), **FAST).fit(df)
    with pytest.raises(PolymodalError, match=r"no column\(s\) colour, which this model needs"):
        p.predict(df.drop(columns=["colour"]))
    relaxed = pm.Predictor("side", fusion="concat", overrides=_ignore("side"), **FAST).fit(df)
    # colour is one column of the `tabular` group (x1, x2, colour): the group goes on with the other two
    with pytest.warns(UserWarning, match=r"no column\(s\) colour; predicting with the other columns of the group"):
        assert len(relaxed.predict(df.drop(columns=["colour"]))) == len(df)


def test_cli_label_weight(tmp_path, capsys):
    path = tmp_path / "table.csv"
    _table(n=160).to_csv(path, index=False)
    args = ["fit", str(path), "--label", "value", "--label", "side", "--ignore", "tags", "--fusion", "concat",
            "--epochs", "3", "--no-baselines", "--out", str(tmp_path / "run")]
    assert main([*args, "--label-weight", "side=0.25"]) == 0
    assert pm.load(tmp_path / "run").task_.weights == [1.0, 0.25]
    assert main([*args, "--label-weight", "side=lots"]) == 2
    assert "expected COL=WEIGHT" in capsys.readouterr().err
    assert main(["fit", str(path), "--task", "caption", "--label-weight", "side=2"]) == 2
    assert "--task caption has no label loss to weight" in capsys.readouterr().err
