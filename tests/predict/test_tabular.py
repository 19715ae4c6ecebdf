"""The `tabular` group (schema.group_tabular, encoders/table_group.py): a table's numeric and categorical
columns as one modality through fitting, LightGBM, saving, predicting (members missing too), the seen-row
check, serving and `tabular="separate"`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.data.table import Table
from polymodal.encoders import build_encoder
from polymodal.schema import Column, Schema, group_tabular, with_group_cells

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}
MEMBERS = ["weight", "n0", "n1", "n2", "c1", "c2"]


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """make_table's rows plus three numeric and two categorical columns; n0 and c1 carry the label."""
    folder = tmp_path_factory.mktemp("wide")
    df = pd.read_csv(make_table(folder, rows=60))
    rng = np.random.default_rng(0)
    codes = df["color"].map({"red": 0, "green": 1, "blue": 2})
    for i in range(3):
        df[f"n{i}"] = codes * (i == 0) + rng.normal(0, 0.3, len(df))
    df["c1"] = np.where(codes == 1, "yes", "no")
    df["c2"] = rng.choice(list("abc"), len(df))
    df.loc[3, "n1"] = None
    df.loc[4, MEMBERS] = None  # a row whose whole group is absent
    df.to_csv(folder / "wide.csv", index=False)
    return folder, df


@pytest.fixture(scope="module")
def fitted(wide):
    folder, _ = wide
    p = pm.Predictor("color", fusion="concat", encoders=ENCODERS, epochs=3, batch_size=16, hidden=16,
                     estimate="holdout", progress=False)
    p.fit(folder / "wide.csv", out=folder / "run")
    return p, folder / "run"


def test_the_group_gathers_two_or_more_numeric_and_categorical_columns():
    schema = Schema([Column("a", "numeric", ""), Column("b", "categorical", ""), Column("tabular", "text", ""),
                     Column("y", "label", "")])
    grouped = group_tabular(schema, ["a", "b", "tabular", "y"])
    assert grouped.modalities == {"tabular": "text", "tabular_": "tabular"}  # a clash gets "_"
    assert grouped.members("tabular_") == ("a", "b") and grouped.grouped == {"a", "b"}
    assert Schema.from_dict(grouped.to_dict()).members("tabular_") == ("a", "b")
    one = Schema([Column("a", "numeric", ""), Column("t", "text", "")])
    assert group_tabular(one, ["a", "t"]) is one  # a single column stays as it is


def test_a_rows_group_cell_holds_its_members_or_none():
    schema = group_tabular(Schema([Column("a", "numeric", ""), Column("b", "categorical", "")]), ["a", "b"])
    table = with_group_cells(Table(pd.DataFrame({"a": [1.0, None, None], "b": ["x", "y", " "]}), None, "t"), schema)
    assert table.df["tabular"].tolist()[:2] == [{"a": 1.0, "b": "x"}, {"a": None, "b": "y"}]
    assert table.df["tabular"].iloc[2] is None  # every member empty: the modality is absent from the row


def test_the_encoder_standardises_numbers_marks_presence_and_one_hots_categories():
    encoder = build_encoder("tabular", roles={"n": "numeric", "c": "categorical"}, max_categories=2)
    encoder.prepare([{"n": 1.0, "c": "x"}, {"n": 3.0, "c": "x"}, {"n": None, "c": "y"}, {"n": 2.0, "c": "z"}])
    assert encoder.numeric == {"n": [2.0, pytest.approx(np.std([1.0, 3.0, 2.0]))]}
    assert encoder.categories == {"c": ["x", "y"]}  # the two most frequent (ties by name)
    loader = encoder.loader()
    assert loader({"n": 2.0, "c": "y"}).tolist() == [0.0, 1.0, 0.0, 0.0, 1.0]
    assert loader({"n": None, "c": "w"}).tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]  # "w": the other-values slot
    x = torch.stack([loader({"n": 3.0, "c": "x"}), loader({"c": None})])
    matrix, categorical = encoder.tree_matrix(x)
    assert categorical == [1] and matrix[0, 1] == 1 and np.isnan(matrix[1]).all()


def test_a_fit_sees_one_tabular_modality_and_lightgbm_reads_it(fitted):
    p, run = fitted
    assert p.columns_ == ["caption", "photo", "sound", "tabular"]
    names = {c.name for c in p.candidates_}
    assert "only:tabular" in names and not names & {f"only:{m}" for m in MEMBERS}
    trees = next(c for c in p.candidates_ if c.name == "lightgbm")
    assert "tabular" in trees.model.columns and trees.model.kinds["tabular"] == "tabular"
    schema = json.loads((run / "schema.json").read_text())
    assert next(c for c in schema["columns"] if c["name"] == "tabular")["members"] == MEMBERS


def test_the_run_reloads_and_predicts_with_member_columns_missing(wide, tmp_path):
    folder, df = wide
    # classical="none": the saved model is the fusion, which reads the group (the probe would read `sound` only)
    p = pm.Predictor("color", fusion="concat", encoders=ENCODERS, classical="none", baselines=False, epochs=2,
                     batch_size=16, hidden=16, estimate="holdout", progress=False).fit(folder / "wide.csv",
                                                                                       out=tmp_path / "run")
    assert "tabular" in p.model_.modalities
    again = pm.load(tmp_path / "run")
    pd.testing.assert_frame_equal(p.predict_proba(folder / "wide.csv"), again.predict_proba(folder / "wide.csv"))
    df.drop(columns=["n0", "c2"]).to_csv(folder / "fewer.csv", index=False)
    with pytest.warns(UserWarning, match=r"no column\(s\) n0, c2; predicting with the other columns of the group"):
        fewer = again.predict_proba(folder / "fewer.csv")
    assert len(fewer) == len(df) and not fewer.equals(again.predict_proba(folder / "wide.csv"))
    assert again.evaluate(folder / "wide.csv", exclude_seen=True)["n"] == p.split_sizes_["test"]
    strict = pm.Predictor("color", fusion="concat", encoders=ENCODERS, classical="none", baselines=False, epochs=1,
                          require_all=True, estimate="holdout", progress=False)
    full = df.drop(index=[3, 4])  # the rows with empty cells
    full.to_csv(folder / "full.csv", index=False)
    strict.fit(folder / "full.csv")
    with pytest.raises(PolymodalError, match=r"no column\(s\) n0, c2, which this model needs"):
        strict.predict(folder / "fewer.csv")


def test_a_bad_cell_in_a_member_column_is_named(wide):
    folder, df = wide
    df.assign(n2=df["n2"].astype(object).where(df.index != 7, "lots")).to_csv(folder / "bad.csv", index=False)
    with pytest.raises(PolymodalError, match=r"row 7, column 'n2': not a number"):
        pm.Predictor("color", fusion="concat", encoders=ENCODERS, overrides={"n2": "numeric"},
                     progress=False).fit(folder / "bad.csv")


def test_serving_takes_the_member_columns_as_fields(wide):
    from polymodal.serve.predict import PredictService

    folder, _ = wide
    p = pm.Predictor("color", fusion="concat", encoders=ENCODERS, classical="none", baselines=False, epochs=1,
                     batch_size=16, hidden=16, estimate="holdout", progress=False).fit(folder / "wide.csv")
    service = PredictService(p)
    fields = {f.name for f in service.fields()}
    assert set(MEMBERS) <= fields and "tabular" not in fields
    row = service.load({"n0": 1.0, "c1": "yes"})
    assert torch.is_tensor(row["tabular"]) and row["caption"] is None


def test_separate_keeps_each_column_a_modality(wide):
    folder, _ = wide
    p = pm.Predictor("color", fusion="concat", encoders=ENCODERS, tabular="separate", baselines=False,
                     classical="none", epochs=1, batch_size=16, hidden=16, estimate="holdout", progress=False)
    p.fit(folder / "wide.csv")
    assert set(MEMBERS) <= set(p.columns_) and "tabular" not in p.columns_
    with pytest.raises(PolymodalError, match="unknown tabular option 'mixed'"):
        pm.Predictor("color", tabular="mixed").fit(folder / "wide.csv")


def test_a_tensor_fusion_too_big_to_build_is_refused_or_skipped(tmp_path):
    """Eight separate numeric columns make a fused size of 9^8: alone it is refused with the way out; among other
    fusions it is skipped and listed, and the fit goes on."""
    import numpy as np
    import pandas as pd
    import pytest

    import polymodal as pm
    from polymodal import PolymodalError
    from polymodal.fusion.base import build_fusion

    with pytest.raises(PolymodalError, match=r"fused size of 9\^8 .*low_rank"):
        build_fusion("tensor", in_dims={f"x{i}": 4 for i in range(8)}, out_dim=2)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({f"x{i}": rng.normal(size=80) for i in range(8)})
    df["y"] = np.where(df["x0"] > 0, "a", "b")
    args = {"tabular": "separate", "classical": "none", "baselines": False, "epochs": 1, "progress": False,
            "estimate": "holdout"}
    with pytest.raises(PolymodalError, match="tensor fusion of 8 modalities"):
        pm.Predictor("y", fusion="tensor", **args).fit(df)
    p = pm.Predictor("y", fusion="concat,tensor", **args).fit(df)
    assert [c.name for c in p.candidates_ if c.kind == "fusion"] == ["concat"]
    assert [s["name"] for s in p.skipped_candidates_] == ["tensor"]
