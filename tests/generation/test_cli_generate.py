"""The command line: fit --task text-to-image, generate, evaluate, and generate on another kind of run."""

import json

import pytest
from PIL import Image

from polymodal.cli import main


@pytest.mark.slow
def test_fit_and_generate_images_from_the_command_line(tiny_shapes, tmp_path):
    run = tmp_path / "t2i"
    assert main(["fit", str(tiny_shapes), "--task", "text-to-image", "--model", "cvae", "--text-encoder", "gru",
                 "--image-size", "16", "--epochs", "2", "--batch-size", "16", "--no-evaluate", "--out", str(run)]) == 0
    assert json.loads((run / "polymodal.json").read_text())["kind"] == "generator"
    out = tmp_path / "grid.png"
    assert main(["generate", str(run), "a small red circle on the left", "a large blue square in the center",
                 "-n", "3", "--seed", "1", "-o", str(out)]) == 0
    assert Image.open(out).size == (3 * 16 + 2 * 2, 2 * 16 + 2)


@pytest.mark.slow
def test_fit_generate_evaluate_clips_from_the_command_line(tiny_shapes, tmp_path, capsys):
    run = tmp_path / "t2v"
    assert main(["fit", str(tiny_shapes), "--task", "text-to-video", "--prompt", "video_caption", "--model", "cgan",
                 "--text-encoder", "gru", "--image-size", "16", "--epochs", "2", "--batch-size", "16",
                 "--out", str(run)]) == 0
    fitted = json.loads((run / "metrics.json").read_text())
    assert {"reader_real_accuracy_shape", "reader_real_accuracy_motion", "diversity_within_prompt"} <= set(fitted)
    out = tmp_path / "clips.gif"
    assert main(["generate", str(run), "a red circle moving up", "-n", "2", "-o", str(out)]) == 0
    gif = Image.open(out)
    assert gif.format == "GIF" and gif.n_frames == 8
    capsys.readouterr()
    assert main(["evaluate", str(run), str(tiny_shapes), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["eval_split"] == "test" and metrics["eval_rows"] == fitted["eval_rows"]
    # the readers were trained during the fit and are reused: same table, same reader, same verdict
    assert metrics["reader_real_accuracy_color"] == fitted["reader_real_accuracy_color"]
    assert main(["evaluate", str(run), str(tiny_shapes), "--drop", "image"]) == 2
    assert "a generator has a single input" in capsys.readouterr().err


def test_generate_refuses_other_runs_and_bad_prompts(tmp_path, capsys):
    other = tmp_path / "pred"
    other.mkdir()
    (other / "polymodal.json").write_text(json.dumps({"format": 1, "kind": "predictor"}))
    assert main(["generate", str(other), "a red circle", "-o", str(tmp_path / "x.png")]) == 2
    assert "holds a 'predictor' run, not 'generator'" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "nope"), "a red circle", "-o", str(tmp_path / "x.png")]) == 2
    assert "not a run directory" in capsys.readouterr().err
