"""Rows without a label (predict/unlabeled.py): set aside and counted by default; with unlabeled="use",
pseudo-labelled by the chosen model for a second round of every candidate, saved only when better on
validation. Bad settings are refused before any work."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.predict import predictor as predictor_module
from polymodal.predict.unlabeled import PRECISION

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}


@pytest.fixture(scope="module")
def semi(tmp_path_factory):
    """90 rows, two thirds of them with an empty label (every class keeps labelled rows)."""
    folder = tmp_path_factory.mktemp("semi")
    df = pd.read_csv(make_table(folder, rows=90))
    df.loc[(df.index // 3) % 3 != 0, "color"] = None
    df.to_csv(folder / "semi.csv", index=False)
    return folder / "semi.csv", df


def test_unlabeled_rows_are_set_aside_and_counted_by_default(semi, tmp_path):
    path, df = semi
    p = pm.Predictor("color", fusion="none", encoders=ENCODERS, classical="linear", estimate="holdout",
                     progress=False).fit(path, out=tmp_path / "run")
    labelled = int(df["color"].notna().sum())
    assert sum(p.split_sizes_.values()) == labelled
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["unlabeled"] == {"policy": "ignore",
                                                                                         "rows": len(df) - labelled}
    assert f"{len(df) - labelled} row(s) had no label and were set aside" in (tmp_path / "run" / "report.html"
                                                                              ).read_text()
    assert not any(c.name.endswith("+pseudo") for c in p.candidates_)


def test_with_use_the_confident_rows_join_a_second_round_chosen_on_validation(semi, tmp_path):
    path, df = semi
    rounds = []
    once = predictor_module.Predictor._train_all

    def recording(self, splits, workdir, resume, *, stage=""):
        rounds.append(len(splits["train"]))
        return once(self, splits, workdir, resume, stage=stage)

    p = pm.Predictor("color", fusion="none", encoders=ENCODERS, classical="linear,knn", estimate="holdout",
                     unlabeled="use", progress=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(predictor_module.Predictor, "_train_all", recording)
        p.fit(path, out=tmp_path / "run")
    info = p.unlabeled_
    assert info["rows"] == int(df["color"].isna().sum()) and info["precision"] == PRECISION
    assert 0 < info["pseudo_labelled"] <= info["rows"] and sum(info["per_class"]) == info["pseudo_labelled"]
    assert rounds == [p.split_sizes_["train"], p.split_sizes_["train"] + info["pseudo_labelled"]]
    names = {c.name for c in p.candidates_}
    assert {"linear-probe", "linear-probe+pseudo", "knn", "knn+pseudo"} <= names
    monitor = p.task_.monitor
    singles = [c for c in p.candidates_ if c.kind in ("probe", "classical")]
    assert p.best_.val[monitor] >= max(c.val[monitor] for c in singles)  # the choice spans both rounds
    assert info["chosen_round"] == (2 if "+pseudo" in p.best_.name
                                    or any("+pseudo" in m["name"] for m in p.best_.parts) else 1)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["unlabeled"]
    assert saved["pseudo_labelled"] == info["pseudo_labelled"]
    again = pm.load(tmp_path / "run")
    pd.testing.assert_frame_equal(p.predict_proba(path), again.predict_proba(path))


def test_a_table_with_no_label_at_all_is_a_clear_error(semi):
    path, df = semi
    df.assign(color=None).to_csv(path.with_name("none.csv"), index=False)
    with pytest.raises(PolymodalError, match=r"none.csv: no row has a label in color"):
        pm.Predictor("color", fusion="none", encoders=ENCODERS, progress=False).fit(path.with_name("none.csv"))


def test_use_is_refused_for_a_task_it_cannot_pseudo_label(semi):
    path, df = semi
    reg = path.with_name("reg.csv")  # beside the media, so the table's own cells are fine
    df.drop(columns=["color"]).assign(weight=df["weight"].where(df["color"].notna())).to_csv(reg, index=False)
    with pytest.raises(PolymodalError, match="pseudo-labels rows for single-label classification; this fit's task is "
                                             "regression"):
        pm.Predictor("weight", fusion="none", encoders=ENCODERS, unlabeled="use", progress=False).fit(reg)


def test_a_bad_cell_in_an_unlabeled_row_is_named_by_its_row_in_the_table(semi):
    path, df = semi
    bad = path.with_name("bad.csv")
    df.assign(sound=df["sound"].where(df.index != 4, "snd/missing.wav")).to_csv(bad, index=False)
    assert pd.isna(df.loc[4, "color"])  # row 4 has no label, and rows 0-2 before it have one
    with pytest.raises(PolymodalError, match=r"row 4, column 'sound': file not found"):
        pm.Predictor("color", fusion="none", encoders=ENCODERS, unlabeled="use", progress=False).fit(bad)


@pytest.mark.parametrize(("settings", "message"), [
    ({"unlabeled": "maybe"}, "unknown unlabeled policy 'maybe'; valid: ignore, use"),
    ({"unlabeled": "use", "bag_folds": 3}, "cannot be combined with bag_folds"),
])
def test_bad_settings_are_refused_before_any_work(settings, message, tmp_path):
    with pytest.raises(PolymodalError, match=message):
        pm.Predictor("color", **settings).fit(tmp_path / "no-such-table.csv")


def test_the_cli_takes_only_the_known_policies(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["fit", str(tmp_path / "t.csv"), "--label", "x", "--unlabeled", "maybe"])
    assert "invalid choice: 'maybe'" in capsys.readouterr().err
