"""LightGBM's trees as tensors (predict/tree_tensors.py) give the booster's own raw scores, through missing values,
zeros taken as missing, categorical splits and single-leaf trees; and an ensemble holding trees, neighbours and a
fusion exports as one ONNX graph that ONNX Runtime runs to the same logits."""

from __future__ import annotations

from types import SimpleNamespace

import lightgbm
import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.export.graph import export_head
from polymodal.predict.classical import fit_classical
from polymodal.predict.tree_tensors import TreeTensors
from polymodal.predict.weighted import WeightedEnsemble
from polymodal.tasks import Classification
from polymodal.training.data import ArrayData

from ..export.test_onnx_parity import TOLERANCE, max_diff, model_with

# Each leaf value is summed in float64 and returned as float32, as BoostedTrees returns LightGBM's: 1e-5 covers
# float32 rounding of a sum of up to a few hundred leaves of size ~1.
ATOL = 1e-5


def _table(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    x[rng.random(n) < 0.15, 0] = np.nan  # a learned missing branch
    x[:, 2] = rng.integers(0, 6, n)  # a category
    x[rng.random(n) < 0.05, 2] = np.nan
    x[:, 3] = np.where(rng.random(n) < 0.3, 0.0, x[:, 3])  # zeros: missing under zero_as_missing
    y = ((x[:, 1] > 0).astype(int) + np.isin(x[:, 2], [1, 4]) + (np.nan_to_num(x[:, 0], nan=2.0) > 0.5)) % 3
    return x, y


def _probe_rows(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[:4, 2] = [-1.0, 7.0, 2.5, -0.5]  # a negative, an unseen and a fractional category
    out[4:8, 0] = np.nan
    out[12:16, 1] = np.nan  # NaN in a column trained without any (missing type None: read as 0)
    out[8:12, 3] = 0.0
    return out


@pytest.mark.parametrize("params", [
    {"objective": "multiclass", "num_class": 3},
    {"objective": "multiclass", "num_class": 3, "zero_as_missing": True},
    {"objective": "regression"},
], ids=["multiclass", "zero-as-missing", "regression"])
def test_tree_tensors_give_the_boosters_raw_scores(params):
    x, y = _table()
    booster = lightgbm.train({**params, "verbose": -1, "num_leaves": 15, "min_data_in_leaf": 5,
                              "min_data_per_group": 5, "cat_smooth": 1.0, "deterministic": True, "num_threads": 1},
                             lightgbm.Dataset(x, y, categorical_feature=[2]), num_boost_round=40)
    dump = booster.dump_model()
    assert any(n == "==" for n in _decisions(dump)), "the test needs a categorical split"
    rows = _probe_rows(_table(300, seed=1)[0])
    want = booster.predict(rows, raw_score=True).reshape(len(rows), -1)
    got = TreeTensors(dump)(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_a_tree_without_a_split_is_its_leaf():
    x, y = _table(60)
    booster = lightgbm.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 1000},
                             lightgbm.Dataset(x, y.astype(float)), num_boost_round=3)
    rows = _table(20, seed=2)[0]
    got = TreeTensors(booster.dump_model())(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(got[:, 0], booster.predict(rows, raw_score=True), atol=ATOL, rtol=0)


def _decisions(dump: dict) -> list[str]:
    out = []

    def walk(node):
        if "decision_type" in node:
            out.append(node["decision_type"])
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])
    return out


def test_an_ensemble_of_a_fusion_trees_and_neighbours_exports_as_one_graph(tmp_path):
    dims = {"audio": 24, "image": 40}
    g = torch.Generator().manual_seed(0)
    n = 300
    y = torch.randint(0, 5, (n,), generator=g)
    inputs = {c: torch.randn(n, d, generator=g) + y[:, None].float() * 0.3 for c, d in dims.items()}
    masks = {c: torch.rand(n, generator=g) > 0.1 for c in dims}
    data = ArrayData(inputs, masks, y)
    encoders = {c: SimpleNamespace(name="cached", mode="frozen", pretrained=True, out_dim=d) for c, d in dims.items()}
    task = Classification("y").fit(pd.Series([str(i) for i in range(5)]))
    split = {"train": data.subset(torch.arange(0, 200)), "val": data.subset(torch.arange(200, 300))}
    trees = fit_classical("lightgbm", task, split, encoders, list(dims)).model
    neighbours = fit_classical("knn", task, split, encoders, list(dims)).model
    fusion = model_with("concat", cached=dims)
    ensemble = WeightedEnsemble([fusion, trees, neighbours], [0.5, 0.3, 0.2]).eval()
    path, specs = export_head(ensemble, tmp_path / "ensemble.onnx")
    assert [(s.column, s.kind, s.shape) for s in specs] == [("audio", "features", (24,)), ("image", "features", (40,))]
    assert max_diff(ensemble, path, 9, 4) < TOLERANCE
