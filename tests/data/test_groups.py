"""Rows that share a media file (data/groups.py) and the folds that keep them together (data/splits.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from polymodal.data.groups import shared_file_groups
from polymodal.data.splits import fold_rows
from polymodal.training.data import ArrayData


def test_groups_join_rows_sharing_a_file_in_any_column_transitively():
    df = pd.DataFrame({"image": ["a.png", "b.png", "c.png", "d.png", None, "f.png"],
                       "audio": ["1.wav", "2.wav", "1.wav", "3.wav", "4.wav", "3.wav"]})
    df.loc[1, "image"] = "a.png"  # row 1 shares an image with row 0, which shares a clip with row 2
    groups = shared_file_groups(df, ["image", "audio"])
    assert groups[0] == groups[1] == groups[2] and groups[3] == groups[5]
    assert len({groups[0], groups[3], groups[4]}) == 3  # an empty cell joins nothing
    assert shared_file_groups(pd.DataFrame({"image": ["a", "b", None, None]}), ["image"]) is None


def test_folds_never_split_a_group_and_stay_stratified():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 3)  # 40 groups of three rows
    labels = np.repeat(rng.integers(0, 2, 40), 3)
    held = fold_rows(120, labels, folds=5, seed=0, groups=groups)
    assert sorted(np.concatenate(held).tolist()) == list(range(120))
    for fold in held:
        inside = set(groups[fold])
        assert all(set(np.flatnonzero(groups == g)) <= set(fold) for g in inside)  # whole groups only
        assert 0 < labels[fold].mean() < 1  # both classes in every fold
    assert [f.tolist() for f in fold_rows(120, labels, folds=5, seed=0, groups=groups)] == [f.tolist() for f in held]


def test_subsets_and_pools_keep_the_tables_group_ids():
    data = ArrayData({"x": torch.arange(6.0)[:, None]}, {"x": torch.ones(6, dtype=torch.bool)}, torch.zeros(6),
                     torch.tensor([0, 0, 1, 1, 2, 2]))
    a, b = data.subset(torch.tensor([0, 2])), data.subset(torch.tensor([1, 3, 4]))
    assert ArrayData.concat([a, b]).groups.tolist() == [0, 1, 0, 1, 2]  # row 1 is still with row 0
    loose = ArrayData({"x": torch.zeros(2, 1)}, {"x": torch.ones(2, dtype=torch.bool)}, torch.zeros(2))
    pooled = ArrayData.concat([a, loose]).groups.tolist()
    assert pooled[:2] == [0, 1] and len(set(pooled)) == 4  # rows without ids are each their own group
    assert data.only(["x"]).groups is data.groups and data.drop("x").groups is data.groups


def test_a_seeded_split_keeps_each_group_on_one_side():
    from polymodal.data.splits import split_rows
    from polymodal.schema import Schema

    groups = np.repeat(np.arange(100), 4)  # 400 rows, four per shared file
    df = pd.DataFrame({"y": np.repeat(np.arange(100) % 2, 4).astype(str)})
    parts = split_rows(df, Schema([], "t"), "y", seed=0, groups=groups)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(400))
    sides = [set(groups[rows]) for rows in parts.values()]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])  # no file on two sides
    assert 0.10 < len(parts["test"]) / 400 < 0.20 and 0.10 < len(parts["val"]) / 400 < 0.22
    plain = split_rows(df, Schema([], "t"), "y", seed=0)
    assert set(groups[plain["test"]]) & set(groups[plain["train"]])  # without groups, files straddle the split
