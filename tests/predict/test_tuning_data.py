"""`Predictor.fit(tuning_data=)`: a separate validation table, whose relative paths start from its own folder."""

import shutil

import pandas as pd
import pytest

import polymodal as pm
from polymodal.errors import TableError

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=8", "audio": "mfcc", "text": "gru"}


def test_tuning_rows_validate_and_the_table_trains(tiny_table, tmp_path_factory):
    val = tmp_path_factory.mktemp("elsewhere")
    for folder in ("img", "snd"):
        shutil.copytree(tiny_table.parent / folder, val / folder)
    pd.read_csv(tiny_table).head(6).to_csv(val / "val.csv", index=False)  # relative paths, from val/
    p = pm.Predictor("color", encoders=ENCODERS, pretrained=False, overrides={"id": "id"}, epochs=2, hidden=8,
                     baselines=False, progress=False)
    p.fit(tiny_table, tuning_data=val / "val.csv")
    assert p.split_sizes_ == {"train": 10, "val": 6, "test": 2}  # the table's own 15% stays held out
    assert p.best_.val["accuracy"] >= 0 and p.estimate_ == ("test: 2 rows never used for training or selection "
                                                              "(early stopping, choosing the fusion)")
    assert "_polymodal_split" not in {c.name for c in p.schema_.columns}  # the saved schema is the table's


def test_a_tuning_table_without_the_columns_is_refused(tiny_table, tmp_path):
    pd.read_csv(tiny_table).drop(columns=["photo"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(TableError, match=r"bad\.csv: the validation table lacks column\(s\) 'photo'"):
        pm.Predictor("color", pretrained=False, epochs=1, progress=False).fit(tiny_table,
                                                                              tuning_data=tmp_path / "bad.csv")
