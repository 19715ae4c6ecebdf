"""End to end on a small `shapes` table: fit, learn, save, load, evaluate, report, CLI, errors."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

import polymodal as pm
from polymodal import PolymodalError
from polymodal.captioning.attributes import parse_caption
from polymodal.captioning.report import add_caption_examples
from polymodal.cli import main
from polymodal.metrics.text import bleu
from polymodal.report.html import Report


def _test_rows(shapes) -> pd.DataFrame:
    df = pd.read_parquet(shapes)
    return df[df["split"] == "test"].reset_index(drop=True)


@pytest.mark.slow
def test_gru_learns_shapes_far_above_the_trivial_baseline(captioned, shapes):
    c, _ = captioned
    m = c.metrics_
    assert c.eval_split_ == "test" and m["items"] == len(_test_rows(shapes))
    # chance: 1/4 shapes, 1/5 colours, 1/2 sizes, 1/3 positions
    assert m["shape_accuracy"] >= 0.7 and m["color_accuracy"] >= 0.6 and m["size_accuracy"] >= 0.75
    # the trivial captioner: the most frequent training caption for every input
    df = pd.read_parquet(shapes)
    common = Counter(df.loc[df["split"] == "train", "caption"]).most_common(1)[0][0]
    test = _test_rows(shapes)
    trivial = bleu([common] * len(test), [[t] for t in test["caption"]])["bleu_4"]
    assert m["bleu_4"] > trivial + 0.2
    assert c.answer_ == "model" and c.choice_["model_bleu_4"] >= c.choice_["nearest_bleu_4"]  # it beat the baseline
    assert c.history_[-1]["train_loss"] < 0.6 * c.history_[0]["train_loss"]
    for key in ("nn_bleu_4", "nn_cider_d", "nn_exact_match", "nn_shape_accuracy"):
        assert 0.0 <= m[key] <= (10.0 if "cider" in key else 1.0)


@pytest.mark.slow
def test_saved_run_reloads_to_identical_captions(captioned, shapes):
    c, run = captioned
    files = [str(shapes.parent / p) for p in _test_rows(shapes)["image"][:12]]
    again = pm.load(run)
    assert isinstance(again, pm.Captioner) and again.input_role == "image"
    for beam in (1, 3):
        assert again.caption(files, beam_size=beam) == c.caption(files, beam_size=beam)
    assert again.evaluate(shapes) == c.evaluate(shapes)
    meta = json.loads((run / "polymodal.json").read_text())
    assert meta["kind"] == "captioner" and meta["task"] == "caption"
    html = (run / "report.html").read_text()
    assert "nearest-neighbour baseline" in html and "Captions next to their inputs" in html
    assert html.count("data:image/png;base64") >= 2  # training curves and the caption sheet


@pytest.mark.slow
def test_captions_follow_the_grammar_and_the_tokenizer_round_trips(captioned, shapes):
    c, _ = captioned
    captions = pd.read_parquet(shapes)["caption"].tolist()
    tok = c.tokenizer_
    for text in captions:
        assert tok.decode(tok.encode(text)) == text  # shapes captions are lower case words already
    generated = c.caption([str(shapes.parent / p) for p in _test_rows(shapes)["image"][:8]])
    assert all(None not in parse_caption(g).values() for g in generated)


@pytest.mark.slow
def test_examples_section_for_the_demo(captioned, shapes, tmp_path):
    c, _ = captioned
    report = add_caption_examples(Report("demo"), c, shapes, n=4)
    html = report.write(tmp_path / "r.html").read_text()
    assert "Captions next to their inputs" in html and "nearest neighbour" in html
    examples = c.examples(shapes, 4)
    assert len(examples) == 4 and set(examples[0]) == {"input", "reference", "model", "nearest_neighbour"}


def test_resume_of_a_finished_fit_is_refused_and_the_run_kept(captioned, shapes):
    """A finished run keeps no checkpoints (tests/runs covers resuming an interrupted fit)."""
    c, run = captioned
    before = (run / "weights.safetensors").read_bytes()
    with pytest.raises(PolymodalError, match="holds a finished run"):
        pm.Captioner(**c.get_params()).fit(shapes, out=run, resume=True)
    assert (run / "weights.safetensors").read_bytes() == before and not (run / "checkpoints").exists()


@pytest.mark.slow
@pytest.mark.parametrize("decoder", ["gru", "transformer"])
def test_each_decoder_trains_on_a_tiny_table(tiny_table, decoder):
    c = pm.Captioner(decoder=decoder, input="photo", hidden=32, epochs=4, batch_size=4, lr=5e-3, progress=False)
    c.fit(tiny_table)
    assert c.history_[-1]["train_loss"] < c.history_[0]["train_loss"]
    # no split column: 70/15/15, and the figures come from the 2 test rows
    assert c.split_sizes_ == {"train": 8, "val": 2, "test": 2} and c.eval_split_ == "test"
    assert c.estimate_ == "test: 2 rows never used for training or early stopping"
    assert len(c.caption([tiny_table.parent / "img" / "0.png"])) == 1


@pytest.mark.slow
def test_audio_captioning_on_the_same_machinery(shapes):
    c = pm.Captioner(input="audio", hidden=64, epochs=10, batch_size=32, lr=3e-3, progress=False).fit(shapes)
    assert c.input_role == "audio" and c.encoder_.name == "mel-frames"
    assert c.metrics_["shape_accuracy"] >= 0.5  # the pitch says the shape; chance is 0.25


@pytest.mark.slow
def test_cli_fit_caption_evaluate(shapes, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["fit", str(shapes), "--task", "caption", "--model", "gru", "--target", "caption", "--epochs", "2",
                 "--hidden", "32", "--out", str(run)]) == 0
    assert "nearest-neighbour baseline" in capsys.readouterr().out
    image = str(shapes.parent / "images" / "000001.png")
    assert main(["caption", str(run), image, "--beam", "2"]) == 0
    line = capsys.readouterr().out.rstrip("\n")
    assert line.startswith(image + "\t") and len(line.split("\t")[1]) > 0
    assert main(["evaluate", str(run), str(shapes), "--json"]) == 0
    assert "bleu_4" in json.loads(capsys.readouterr().out)


def test_bad_inputs_get_clear_errors(tmp_path, tiny_table):
    with pytest.raises(PolymodalError, match="unknown caption decoder 'lstm'"):
        pm.Captioner(decoder="lstm")
    empty = pd.DataFrame({"image": pd.Series([], dtype=str), "caption": pd.Series([], dtype=str)})
    with pytest.raises(PolymodalError, match="the table has no rows"):
        pm.Captioner().fit(empty)
    with pytest.raises(PolymodalError, match="input column 'caption' holds text"):
        pm.Captioner(input="caption", target="photo").fit(tiny_table)
    with pytest.raises(PolymodalError, match="no column 'label'"):
        pm.Captioner(input="photo", target="label").fit(tiny_table)
    df = pd.read_csv(tiny_table)
    df.loc[3, "photo"] = "img/missing.png"
    with pytest.raises(PolymodalError, match=r"row 3, column 'photo': file not found"):
        pm.Captioner(input="photo").fit(pm.read_table(df, base_dir=tiny_table.parent))
    blank = pd.read_csv(tiny_table).assign(caption=None)
    with pytest.raises(PolymodalError, match="no row has both"):
        pm.Captioner(input="photo").fit(pm.read_table(blank, base_dir=tiny_table.parent))


def test_runs_of_another_kind_are_refused(tmp_path, capsys):
    run = tmp_path / "other"
    run.mkdir()
    (run / "polymodal.json").write_text(json.dumps({"format": 1, "kind": "aligner"}))
    (run / "weights.safetensors").write_bytes(b"")
    with pytest.raises(PolymodalError, match="holds a 'aligner' run, not 'captioner'"):
        pm.Captioner.load(run)
    assert main(["caption", str(run), "x.png"]) == 2
    assert "not 'captioner'" in capsys.readouterr().err


@pytest.mark.slow
def test_unreadable_files_and_bad_options_are_named(captioned, tmp_path):
    c, _ = captioned
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(PolymodalError) as err:
        c.caption([broken, empty, tmp_path / "nope.png"])
    text = str(err.value)
    assert "3 image file(s) cannot be captioned" in text
    assert str(broken) in text and f"{empty}: the file is empty" in text and "nope.png: file not found" in text
    with pytest.raises(PolymodalError, match="this model's limit"):
        c.caption([tmp_path / "x.png"], max_len=1000)
    with pytest.raises(PolymodalError, match="single input"):
        c.evaluate(tmp_path, drop=["image"])


def test_served_caption_endpoint_matches_the_python_api(captioned, shapes):
    """/caption over a real captioner run (the serve tests use stand-ins for the contract)."""
    from fastapi.testclient import TestClient

    from polymodal.serve.app import create_app

    c, run = captioned
    image = shapes.parent / "images" / "000003.png"
    with TestClient(create_app([run], warm_up=False)) as client:
        r = client.post("/caption", data={"beam_size": "3"},
                        files=[("file", ("scene.png", image.read_bytes(), "image/png"))])
    assert r.status_code == 200, r.text
    assert r.json()["captions"] == c.caption([image], beam_size=3)


@pytest.mark.slow
def test_a_decoder_worse_than_the_nearest_caption_is_not_shipped(tiny_shapes, tmp_path):
    """One epoch at a tiny learning rate: the decoder loses to copying the nearest training caption on the
    validation rows, so `caption()` answers with the baseline, before and after a reload, and the run says so."""
    from polymodal.captioning.inputs import token_features

    run = tmp_path / "run"
    c = pm.Captioner("image", "caption", hidden=16, epochs=1, lr=1e-6, batch_size=16, progress=False)
    c.fit(tiny_shapes, out=run)
    assert c.answer_ == "nearest" and c.choice_["nearest_bleu_4"] > c.choice_["model_bleu_4"]
    files = [str(tiny_shapes.parent / p) for p in pd.read_parquet(tiny_shapes)["image"][:6]]
    nearest = c.nearest_captions(token_features(c.encoder_, files, progress=False))
    assert c.caption(files) == nearest and pm.load(run).caption(files) == nearest
    assert c.metrics_["answer"] == "nearest" and json.loads((run / "metrics.json").read_text())["answer"] == "nearest"
    assert "It answers with the nearest-neighbour baseline" in (run / "README.md").read_text()
    assert "answers with the nearest-neighbour baseline, not the decoder" in (run / "report.html").read_text()
