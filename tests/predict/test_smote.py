"""SMOTE (predict/smote.py): synthetic rows of the rare classes on the training rows only, interpolated
between same-class rows, presence bits read back; trainable raw-media columns refused with the way out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.predict import candidates as candidates_module
from polymodal.predict.smote import oversample
from polymodal.training.data import ArrayData


def _skewed(n_major: int = 40, n_minor: int = 6) -> ArrayData:
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.normal(0, 1, (n_major, 3)), rng.normal(5, 1, (n_minor, 3))])
    b = np.concatenate([rng.normal(0, 1, (n_major, 2)), rng.normal(-5, 1, (n_minor, 2))])
    mask_b = np.ones(n_major + n_minor, bool)
    mask_b[[1, n_major + n_minor - 1]] = False
    b[~mask_b] = 0
    y = np.array([0] * n_major + [1] * n_minor)
    return ArrayData({"a": torch.tensor(a, dtype=torch.float32), "b": torch.tensor(b, dtype=torch.float32)},
                     {"a": torch.ones(len(y), dtype=torch.bool), "b": torch.tensor(mask_b)}, torch.tensor(y))


def test_rare_classes_grow_to_the_largest_with_rows_between_their_own():
    data = _skewed()
    out = oversample(data, ["a", "b"], seed=0)
    assert len(out) == 80 and torch.bincount(out.targets).tolist() == [40, 40]
    assert torch.equal(out.inputs["a"][:46], data.inputs["a"])  # the real rows first, unchanged
    new = out.inputs["a"][46:]
    minority = data.inputs["a"][40:]
    lo, hi = minority.min(0).values, minority.max(0).values
    assert ((new >= lo - 1e-5) & (new <= hi + 1e-5)).all()  # between rare-class rows, never near the others
    absent = ~out.masks["b"][46:]
    assert (out.inputs["b"][46:][absent] == 0).all()  # an absent cell is zeros, as in real rows


def test_balanced_or_single_row_classes_are_left_as_they_are():
    data = _skewed(n_major=6, n_minor=6)
    assert oversample(data, ["a", "b"]) is data
    assert oversample(_skewed(n_minor=1), ["a", "b"]).targets.tolist().count(1) == 1


def test_a_fit_oversamples_each_rounds_training_rows_only(tmp_path, monkeypatch):
    df = pd.read_csv(make_table(tmp_path, rows=60))
    df = df[(df["color"] != "blue") | (df.index % 9 == 2)]  # blue: 7 rows of 47
    df.to_csv(tmp_path / "skewed.csv", index=False)
    seen = []
    real = candidates_module.oversample

    def spy(train, columns, *, seed=0):
        out = real(train, columns, seed=seed)
        seen.append((len(train), len(out)))
        return out

    monkeypatch.setattr(candidates_module, "oversample", spy)
    p = pm.Predictor("color", imbalance="smote", fusion="concat", encoders={"audio": "mfcc"},
                     overrides={"photo": "ignore", "caption": "ignore"}, epochs=2, hidden=16, estimate="holdout",
                     progress=False).fit(tmp_path / "skewed.csv")
    assert seen and seen[0][0] == p.split_sizes_["train"] and seen[0][1] > seen[0][0]
    assert p.split_sizes_["val"] and all(c.val for c in p.candidates_)  # validation rows untouched, scored


def test_a_trainable_media_column_is_refused_with_the_way_out(tmp_path):
    table = make_table(tmp_path, rows=30)
    with pytest.raises(PolymodalError, match="imbalance='smote' interpolates fixed feature vectors, and column "
                                             "'photo' is read by a trainable encoder"):
        pm.Predictor("color", imbalance="smote", fusion="concat", encoders={"image": "cnn", "audio": "mfcc"},
                     overrides={"caption": "ignore"}, epochs=1, estimate="holdout", progress=False).fit(table)
