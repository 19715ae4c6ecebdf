"""The classical candidates (predict/classical.py): each one fitted, chosen, saved, reloaded and answering
identically; LightGBM reading numbers and categories natively; nothing pickled; embedding refused with the
way out, ONNX export of what reads cached features; the choice of k and of the boosting rounds made on validation."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.encoders.tabular import build_categorical, build_numeric
from polymodal.export.graph import export_head, graph_inputs
from polymodal.predict.classical import classical_names, fit_classical
from polymodal.predict.knn import NearestNeighbours
from polymodal.predict.trees import BoostedTrees
from polymodal.tasks import Classification, Regression
from polymodal.training.data import ArrayData

from ..export.test_onnx_parity import max_diff

ENCODERS = {"photo": "cnn:image_size=16:width=4:out_dim=16", "sound": "mfcc", "caption": "gru"}


@pytest.fixture(scope="module")
def colors(tmp_path_factory):
    return make_table(tmp_path_factory.mktemp("classical-data"), rows=60)


@pytest.fixture(scope="module", params=classical_names())
def chosen(request, colors, tmp_path_factory):
    """fusion='none': the classical candidate named is the only one, so it is the saved model."""
    run = tmp_path_factory.mktemp("classical-runs") / request.param
    p = pm.Predictor("color", fusion="none", classical=request.param, encoders=ENCODERS, ensemble=False,
                     estimate="holdout", progress=False)
    return request.param, p.fit(colors, out=run), run


def test_each_classical_candidate_is_saved_and_answers_the_same_after_loading(chosen, colors, tmp_path):
    name, p, run = chosen
    assert [c.name for c in p.candidates_] == [p.best_.name] == [{"linear": "linear-probe"}.get(name, name)]
    first = p.predict_proba(colors)
    again = pm.load(run)
    pd.testing.assert_frame_equal(again.predict_proba(colors), first, check_exact=True)
    again.save(tmp_path / "copy")  # save -> load -> save -> load: still the same answers
    pd.testing.assert_frame_equal(pm.load(tmp_path / "copy").predict_proba(colors), first, check_exact=True)
    assert not [f for f in run.rglob("*") if f.suffix in (".pkl", ".pickle", ".joblib")]


def test_each_classical_candidate_predicts_without_a_modality(chosen, colors):
    _, p, _ = chosen
    blank = colors.parent / "no-sound.csv"  # every sound cell empty: each row is predicted without that modality
    pd.read_csv(colors).assign(sound="").to_csv(blank, index=False)
    proba = p.predict_proba(blank).filter(like="proba_").to_numpy()
    assert proba.shape == (60, 3) and np.isfinite(proba).all() and np.allclose(proba.sum(1), 1.0, atol=1e-5)


def test_loading_a_classical_model_never_unpickles(chosen, colors, monkeypatch):
    _, p, run = chosen
    expected = p.predict_proba(colors)

    def refuse(*args, **kwargs):
        raise AssertionError("a saved classical model must not be unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    pd.testing.assert_frame_equal(pm.load(run).predict_proba(colors), expected, check_exact=True)


def test_embedding_is_refused_with_the_way_out_and_export_traces_what_reads_cached_features(chosen, colors,
                                                                                          tmp_path):
    name, p, _ = chosen
    if name == "linear":  # the probe is a torch linear layer: it embeds (and exports: tests/predict/test_probe.py)
        assert p.embed(colors).shape[0] == 60
        return
    with pytest.raises(PolymodalError, match=r"classical model .*--classical"):
        p.embed(colors)
    if name == "lightgbm":  # it also reads the numeric column `weight`, as a raw number decoded in Python
        with pytest.raises(PolymodalError, match=r"cannot export this model to ONNX:\n  column 'weight': LightGBM "
                                                 r"reads its numeric values"):
            graph_inputs(p.model_)
        return
    path, specs = export_head(p.model_, tmp_path / "knn.onnx")  # neighbours: torch all the way
    assert [s.column for s in specs] == ["sound"] and max_diff(p.model_, path, 7, 3) < 1e-4


def _mixed(n=240, seed=0):
    """A label that depends on a category and on a number through a threshold: no linear model reads it."""
    rng = np.random.default_rng(seed)
    cats = np.array(list("abcdef"))[rng.integers(0, 6, n)]
    x = rng.normal(size=n)
    y = np.where(np.isin(cats, list("ace")) ^ (np.abs(x) > 0.8), "yes", "no")
    return cats, x, y


def test_lightgbm_reads_numbers_and_categories_natively():
    cats, x, y = _mixed()
    encoders = {"kind": build_categorical(), "size": build_numeric()}
    encoders["kind"].prepare(cats.tolist())
    encoders["size"].prepare(x.tolist())
    task = Classification("y").fit(pd.Series(y))
    ones = torch.ones(len(y), dtype=torch.bool)
    data = ArrayData({"kind": cats.tolist(), "size": torch.tensor(x, dtype=torch.float32)},
                     {"kind": ones, "size": ones}, task.encode(pd.Series(y)))
    parts = {"train": data.subset(torch.arange(160)), "val": data.subset(torch.arange(160, 240))}
    cand = fit_classical("lightgbm", task, parts, encoders, ["kind", "size"])
    model = cand.model
    assert isinstance(model, BoostedTrees) and model.kinds == {"kind": "categorical", "size": "numeric"}
    assert model.categorical == [0]  # "kind" sorts first: its code is the matrix's first column
    assert cand.val["accuracy"] >= 0.9
    # the probe reads cached encoder features only: it has nothing to read here
    assert fit_classical("linear", task, parts, encoders, ["kind", "size"]) is None


class Fixed(torch.nn.Module):
    """A frozen, pretrained stand-in for a cached encoder."""

    def __init__(self, dim):
        super().__init__()
        self.out_dim, self.mode, self.pretrained, self.name = dim, "frozen", True, "fixed"


def _blobs(n=120, d=8, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, d)) + 4.0 * np.eye(3, d)[y]
    ones = torch.ones(n, dtype=torch.bool)
    return ArrayData({"a": torch.tensor(x, dtype=torch.float32)}, {"a": ones}, torch.tensor(y)), x, y


def test_neighbours_choose_k_on_validation_and_one_neighbour_recalls_the_training_rows():
    data, _, _ = _blobs()
    task = Classification("y")
    task.classes = ["0", "1", "2"]
    parts = {"train": data.subset(torch.arange(80)), "val": data.subset(torch.arange(80, 120))}
    cand = fit_classical("knn", task, parts, {"a": Fixed(8)}, ["a"])
    scores = [h["val_balanced_accuracy"] for h in cand.history]
    assert [h["k"] for h in cand.history] == [1, 3, 5, 10, 20, 50]
    assert int(cand.model.k) == cand.history[int(np.argmax(scores))]["k"]
    model = cand.model
    model.k.fill_(1)
    train = parts["train"]
    assert torch.equal(model(train.inputs, train.masks).argmax(1), train.targets)


@pytest.mark.parametrize("name", ["lightgbm", "knn", "linear"])
def test_regression_candidates_beat_the_mean(name):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    target = pd.Series(3.0 * np.sin(x[:, 0]) + x[:, 1] + rng.normal(0, 0.1, 200))
    task = Regression("t").fit(target)
    ones = torch.ones(200, dtype=torch.bool)
    data = ArrayData({"a": torch.tensor(x, dtype=torch.float32)}, {"a": ones}, task.encode(target))
    parts = {"train": data.subset(torch.arange(150)), "val": data.subset(torch.arange(150, 200))}
    cand = fit_classical(name, task, parts, {"a": Fixed(4)}, ["a"])
    baseline = float(target.iloc[150:].std(ddof=0))  # the RMSE of predicting the mean
    assert cand.val["rmse"] < 0.6 * baseline


def test_a_model_rebuilt_empty_takes_its_buffer_sizes_from_the_saved_weights():
    data, _, _ = _blobs()
    task = Classification("y")
    task.classes = ["0", "1", "2"]
    parts = {"train": data.subset(torch.arange(80)), "val": data.subset(torch.arange(80, 120))}
    for name, cls in (("knn", NearestNeighbours), ("lightgbm", BoostedTrees)):
        fitted = fit_classical(name, task, parts, {"a": Fixed(8)}, ["a"]).model
        empty = cls(["a"], {"a": Fixed(8)}, 3)
        empty.load_state_dict(fitted.state_dict())
        val = parts["val"]
        assert torch.equal(empty(val.inputs, val.masks), fitted(val.inputs, val.masks))


def test_nothing_to_fit_is_refused_before_any_work(colors, tmp_path):
    with pytest.raises(PolymodalError, match="nothing to fit"):
        pm.Predictor("color", fusion="none", classical="none").fit(colors, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_served_classical_model_answers_as_the_python_api(chosen, colors):
    from fastapi.testclient import TestClient

    from polymodal.serve import create_app

    name, _, run = chosen
    sound = colors.parent / "snd" / "4.wav"
    client = TestClient(create_app([run]))
    numbers = {"weight": "1.1"} if "weight" in pm.load(run).model_.modalities else {}  # LightGBM reads it too
    r = client.post("/predict", files={"sound": ("s.wav", sound.read_bytes(), "audio/wav")}, data=numbers)
    assert r.status_code == 200, r.text
    (pred,) = r.json()["predictions"]
    df = pd.DataFrame({"sound": [str(sound)], **{k: [float(v)] for k, v in numbers.items()}})
    expected = pm.load(run).predict_proba(df)
    assert pred["value"] == expected["color"][0], name
    for cls, p in pred["probabilities"].items():
        assert p == pytest.approx(float(expected[f"proba_color_{cls}"][0]), abs=1e-6)  # JSON floats: rounding only
