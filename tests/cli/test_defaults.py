"""A flag left out reaches no job: each job's own signature default applies, for every kind, and help
shows the defaults read from the signatures."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from tests.cli.recording import Captured

from polymodal.cli import main
from polymodal.runs.kinds import KINDS, job_class

# kind -> the shortest command that fits it, and the parameters that command gives
COMMANDS = {"predictor": (["fit", "t.csv", "--label", "y"], {"label": ["y"]}),
            "captioner": (["fit", "t.csv", "--task", "caption"], {}),
            "generator": (["fit", "t.csv", "--task", "text-to-audio"], {"task": "text-to-audio"}),
            "aligner": (["align", "t.csv"], {})}


def signature_defaults(kind: str) -> dict:
    return {n: p.default for n, p in inspect.signature(job_class(kind).__init__).parameters.items() if n != "self"}


def test_every_kind_has_a_command():
    assert set(COMMANDS) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_flags_left_out_reach_the_job_as_its_signature_defaults(kind, captured, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, given = COMMANDS[kind]
    with pytest.raises(Captured):
        main(argv)
    [(fitted, params, data, kwargs)] = captured
    assert fitted == kind and data == "t.csv"
    assert params == {**signature_defaults(kind), **given}
    for name in ("epochs", "batch_size", "lr", "seed"):  # the numbers the old CLI typed again
        assert params[name] == signature_defaults(kind)[name]
    # a new folder under runs/, and nothing else passed to fit (its own defaults: no resume, no overwrite)
    assert set(kwargs) == {"out"} and kwargs["out"].parent == Path("runs") and kwargs["out"].name.startswith(kind)


def test_flags_given_reach_the_job(captured):
    with pytest.raises(Captured):
        main(["fit", "t.csv", "--label", "y", "--epochs", "3", "--batch-size", "5", "--lr", "0.5", "--hidden", "7",
              "--patience", "2", "--modality-dropout", "0", "--no-baselines", "--require-all", "--fusion", "gated",
              "--ignore", "z", "--label-weight", "y=2", "--on-error", "skip", "--out", "r"])
    params = captured[0][1]
    assert (params["epochs"], params["batch_size"], params["lr"], params["hidden"], params["patience"]) == (3, 5, 0.5,
                                                                                                          7, 2)
    assert params["modality_dropout"] == 0 and params["baselines"] is False and params["require_all"] is True
    assert params["overrides"] == {"z": "ignore"} and params["label_weights"] == {"y": 2.0}
    assert params["on_error"] == "skip" and params["fusion"] == "gated"


def test_caption_and_generation_flags_reach_their_jobs(captured):
    for argv in (["--task", "caption", "--input", "sound", "--model", "transformer", "--hidden", "16"],
                 ["--task", "text-to-image", "--model", "cgan", "--prompt", "p", "--image-size", "16",
                  "--text-encoder", "gru", "--no-evaluate", "--n-mels", "32", "--audio-frames", "16"]):
        with pytest.raises(Captured):
            main(["fit", "t.csv", *argv, "--out", "r"])
    (_, caption, _, _), (_, generator, _, _) = captured
    assert (caption["input"], caption["decoder"], caption["hidden"]) == ("sound", "transformer", 16)
    assert (generator["model"], generator["prompt"], generator["image_size"]) == ("cgan", "p", 16)
    assert generator["text_encoder"] == "gru" and generator["evaluate_after_fit"] is False
    assert (generator["n_mels"], generator["audio_frames"]) == (32, 16)


def test_align_method_and_init_reach_the_aligner_and_a_bad_method_fits_nothing(captured, capsys):
    with pytest.raises(Captured):
        main(["align", "t.csv", "--method", "cca", "--init", "random", "--out", "r"])
    assert (captured[0][1]["method"], captured[0][1]["init"]) == ("cca", "random")
    with pytest.raises(SystemExit):
        main(["align", "t.csv", "--method", "clip"])
    assert "--method: invalid choice: 'clip'" in capsys.readouterr().err and len(captured) == 1


def test_a_flag_the_task_does_not_take_is_an_error(captured, capsys):
    assert main(["fit", "t.csv", "--task", "caption", "--modality-dropout", "0.5"]) == 2
    assert "--modality-dropout is not an option of --task caption" in capsys.readouterr().err
    assert main(["fit", "t.csv", "--label", "y", "--image-size", "16"]) == 2
    assert "--image-size is not an option of --task auto" in capsys.readouterr().err
    assert main(["fit", "t.csv", "--task", "text-to-image", "--ignore", "z"]) == 2
    assert "--ignore is not an option of --task text-to-image" in capsys.readouterr().err
    assert main(["fit", "t.csv"]) == 2
    assert "a predictor needs its label: pass --label" in capsys.readouterr().err
    assert captured == []


def test_help_shows_the_signature_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    epochs = {kind: signature_defaults(kind)["epochs"] for kind in ("predictor", "captioner")}
    assert f"(default: predictor {epochs['predictor']}, captioner {epochs['captioner']}, generator" in text
    assert f"--modality-dropout MODALITY_DROPOUT chance of hiding each modality in training (default: " \
           f"{signature_defaults('predictor')['modality_dropout']})" in text
    with pytest.raises(SystemExit):
        main(["align", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"passes over the training rows (default: {signature_defaults('aligner')['epochs']})" in text
