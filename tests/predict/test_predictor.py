"""End to end on a small `shapes` table: fit, compare, save, load, predict, evaluate, errors."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal as pm
from polymodal import PolymodalError
from polymodal.data.recipes import build

IGNORE = {c: "ignore" for c in ("caption", "video", "video_caption", "color", "size", "position", "count",
                                "motion")}
ENCODERS = {"image": "cnn:image_size=32:width=8:out_dim=32", "audio": "mfcc"}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return build("shapes", tmp_path_factory.mktemp("data") / "shapes", size=96, seed=0)


@pytest.fixture(scope="module")
def fitted(shapes, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    # no linear probe: it would read the cached audio features only (the image encoder trains from scratch), win
    # on this small table, and leave nothing of the image pipeline these tests are about (tests/predict/test_probe.py);
    # no saved ensemble either: it wins here too (tests/predict/test_ensemble_selection.py fits this same table)
    p = pm.Predictor("shape", fusion="concat,late", encoders=ENCODERS, overrides=IGNORE, epochs=25,
                     batch_size=16, lr=3e-3, hidden=32, classical="none", ensemble=False, progress=False)
    return p.fit(shapes, out=run), run


@pytest.mark.slow
def test_fit_learns_far_above_chance_and_compares_candidates(fitted):
    p, _ = fitted
    names = p.comparison_["name"].tolist()
    assert names == ["concat", "late", "only:audio", "only:image"]
    assert p.best_.test["accuracy"] >= 0.7  # 4 balanced classes: chance is 0.25
    history = p.best_.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]


@pytest.mark.slow
def test_run_directory_reloads_to_the_same_predictions(fitted, shapes):
    p, run = fitted
    for name in ("polymodal.json", "schema.json", "task.json", "encoders.json", "weights.safetensors",
                 "metrics.json", "report.html", "plots/comparison.png", "plots/confusion.png"):
        assert (run / name).exists(), name
    again = pm.load(run)
    pd.testing.assert_frame_equal(p.predict_proba(shapes), again.predict_proba(shapes))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best"] == p.fusion_ and len(metrics["missing_modality"]) == 2 * 3
    html = (run / "report.html").read_text()
    assert "Robustness to a missing modality" in html and "only:audio" in html


@pytest.mark.slow
def test_evaluate_with_a_modality_dropped_and_predict_without_a_column(fitted, shapes):
    p, run = fitted
    with pytest.warns(UserWarning, match="80 of 96 rows were used to fit this model"):  # its train and val rows
        full = p.evaluate(shapes)["accuracy"]
    with pytest.warns(UserWarning, match="80 of 96 rows"):
        no_audio = p.evaluate(shapes, drop="audio")["accuracy"]
    assert no_audio != full
    df = pd.read_parquet(shapes).drop(columns=["audio"])
    with pytest.warns(UserWarning, match="no column"):
        pred = pm.load(run).predict(pm.read_table(df, base_dir=shapes.parent))
    assert len(pred) == len(df)
    with pytest.raises(PolymodalError, match="cannot drop 'smell'"):
        p.evaluate(shapes, drop="smell")


def test_bad_options_are_clear(shapes, tmp_path):
    with pytest.raises(PolymodalError, match=r"unknown fusion 'fancy'; valid: .*concat"):
        pm.Predictor("shape", fusion="fancy", overrides=IGNORE, encoders=ENCODERS).fit(shapes)
    with pytest.raises(PolymodalError, match="unknown encoder 'resnet'; valid: "):
        pm.Predictor("shape", overrides=IGNORE, encoders={"image": "resnet"}).fit(shapes)
    df = pd.read_parquet(shapes)
    df["one"] = "same"
    with pytest.raises(PolymodalError, match="only one class"):
        pm.Predictor("one", overrides=IGNORE, encoders=ENCODERS).fit(pm.read_table(df, base_dir=shapes.parent))


@pytest.mark.parametrize(("setting", "value", "rule"), [
    ("batch_size", 0, "an integer >= 1"), ("epochs", 2.5, "an integer >= 1"), ("lr", -1e-3, "a number > 0"),
    ("lr", float("nan"), "a number > 0"), ("dropout", 1.0, r"in \[0, 1\)"),
    ("modality_dropout", -0.1, r"in \[0, 1\)"), ("patience", 0, "an integer >= 1")])
def test_bad_training_settings_are_refused_before_any_work(setting, value, rule, tmp_path):
    with pytest.raises(PolymodalError, match=rf"invalid training setting\(s\): {setting}=.* \({rule}\)"):
        pm.Predictor("label", **{setting: value}).fit(tmp_path / "no-such-table.csv")  # not even read


@pytest.mark.slow
def test_broken_run_directories(tmp_path, fitted):
    _, run = fitted
    with pytest.raises(PolymodalError, match="not a run directory"):
        pm.load(tmp_path)
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "weights.safetensors").unlink()
    with pytest.raises(PolymodalError, match=r"missing weights\.safetensors"):
        pm.load(broken)
    meta = json.loads((broken / "polymodal.json").read_text())
    meta["format"] = 99
    (broken / "polymodal.json").write_text(json.dumps(meta))
    with pytest.raises(PolymodalError, match="incompatible polymodal version"):
        pm.load(broken)


@pytest.mark.slow
def test_ensemble_of_finished_runs(fitted, shapes, tmp_path):
    p, run = fitted
    other = pm.Predictor("shape", fusion="gated", encoders=ENCODERS, overrides=IGNORE, epochs=10, batch_size=16,
                         hidden=32, baselines=False, progress=False).fit(shapes, out=tmp_path / "b")
    ens = pm.Ensemble([run, tmp_path / "b"])
    proba = ens.predict_proba(shapes)
    cols = [c for c in proba.columns if c.startswith("proba_")]
    expected = (p.predict_proba(shapes)[cols].to_numpy() + other.predict_proba(shapes)[cols].to_numpy()) / 2
    assert abs(proba[cols].to_numpy() - expected).max() < 1e-5
    assert 0 <= ens.evaluate(shapes)["accuracy"] <= 1
    with pytest.raises(PolymodalError, match="at least two runs"):
        pm.Ensemble([run])


@pytest.mark.slow
def test_damaged_run_files_are_named_not_tracebacks(tmp_path, fitted):
    import shutil

    _, run = fitted
    for name, match in (("weights.safetensors", "corrupt or unreadable weights"),
                        ("model.json", "corrupt or unreadable JSON"), ("task.json", "corrupt or unreadable JSON")):
        broken = tmp_path / name
        shutil.copytree(run, broken)
        (broken / name).write_text("garbage")
        with pytest.raises(PolymodalError, match=rf"{name}: {match}"):
            pm.load(broken)
    (tmp_path / "model.json" / "metrics.json").unlink()
    with pytest.warns(UserWarning, match="no metrics.json"):
        rows = pm.compare_runs([run, tmp_path / "model.json"])
    assert rows["best"].notna().tolist() == [True, False]


@pytest.mark.slow
def test_prediction_keeps_every_row_and_names_bad_cells(fitted, shapes, tmp_path):
    p, _ = fitted
    df = pd.read_parquet(shapes).head(6).copy()
    (tmp_path / "bad.png").write_bytes(b"not an image")
    df.loc[2, "image"] = str(tmp_path / "bad.png")
    with pytest.raises(PolymodalError, match=r"(?s)1 problem.*row 2, column 'image': cannot decode.*or empty them: "
                                             r"a row with an empty cell is predicted without that modality") as err:
        p.predict(pm.read_table(df, base_dir=shapes.parent))
    assert "--on-error" not in str(err.value)  # predict has no such option
    df.loc[2, "image"] = None
    assert len(p.predict(pm.read_table(df, base_dir=shapes.parent))) == 6  # predicted without the image
    renamed = pm.read_table(df.rename(columns={"audio": "audio_file", "image": "images"}), base_dir=shapes.parent)
    with pytest.raises(PolymodalError, match=r"none of this model's input columns .* is in the table \('audio': "
                                             r"is it 'audio_file'\?; 'image': is it 'images'\?"):
        p.predict(renamed)


def test_whole_number_labels_with_an_empty_cell_keep_their_names():
    from polymodal.tasks import Classification

    with_gap = Classification("y").fit(pd.Series([0, 1, 2, None, 1]))  # read as floats: 0.0, 1.0, 2.0, NaN
    assert with_gap.classes == ["0", "1", "2"]
    assert with_gap.encode(pd.Series([2, 0])).tolist() == [2, 0]  # a clean table (integers) encodes the same
    assert Classification("y").fit(pd.Series([0.5, 1.5])).classes == ["0.5", "1.5"]


def test_embed_gives_the_fused_representation_and_each_columns_features(fitted, shapes):
    p, _ = fitted
    n = len(pd.read_parquet(shapes))
    fused = p.embed(shapes)
    assert fused.shape == (n, p.model_.fusion.out_dim) and np.isfinite(fused).all()
    with torch.inference_mode():  # the head applied to the embedding gives the model's own logits
        logits = p.model_.head(torch.from_numpy(fused))
    proba = p.predict_proba(shapes).filter(like="proba_").to_numpy()
    assert np.allclose(torch.softmax(logits, 1).numpy(), proba, atol=1e-5)  # float32 rounding of one softmax
    for column in p.model_.modalities:
        feats = p.embed(shapes, column=column)
        assert feats.shape[0] == n and feats.shape[1] == p.encoders_[column].out_dim
    with pytest.raises(PolymodalError, match="no input column 'nope'"):
        p.embed(shapes, column="nope")
