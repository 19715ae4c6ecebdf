"""`--config FILE`: a job's constructor parameters from YAML or JSON (a run's fit_args.json reproduces
the run); unknown keys are errors; flags given on the command line win over the file."""

from __future__ import annotations

import json

import pytest
from tests.cli.recording import Captured

from polymodal.cli import main


def test_a_runs_fit_args_reproduce_it(numbers, tmp_path):
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["fit", str(numbers), "--label", "y", "--ignore", "z", "--epochs", "2", "--hidden", "8", "--lr",
                 "0.01", "--seed", "3", "--fusion", "gated", "--no-baselines", "--out", str(first)]) == 0
    assert main(["fit", str(numbers), "--config", str(first / "fit_args.json"), "--out", str(again)]) == 0
    recorded = json.loads((first / "fit_args.json").read_text())
    assert json.loads((again / "fit_args.json").read_text()) == recorded
    assert recorded["hidden"] == 8 and recorded["overrides"] == {"z": "ignore"} and recorded["baselines"] is False
    marker = [json.loads((run / "polymodal.json").read_text())["fit"] for run in (first, again)]
    assert marker[0] == marker[1] == recorded


def test_flags_given_win_over_the_file(tmp_path, captured):
    config = tmp_path / "c.yaml"
    config.write_text("label: y\nepochs: 5\nhidden: 16\nlr: 1e-5\noverrides: {z: ignore}\n")
    with pytest.raises(Captured):
        main(["fit", "t.csv", "--config", str(config), "--epochs", "2", "--ignore", "c", "--out", "r"])
    params = captured[0][1]
    assert (params["epochs"], params["hidden"], params["label"]) == (2, 16, "y")
    assert params["lr"] == 1e-5 and isinstance(params["lr"], float)  # YAML 1.1 would read "1e-5" as text
    assert params["overrides"] == {"z": "ignore", "c": "ignore"}  # a dict is merged, the flags' keys winning


def test_unknown_keys_are_an_error_listing_the_valid_ones(tmp_path, captured, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"label": "y", "epoch": 3}))
    assert main(["fit", "t.csv", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"--config {config}: a predictor has no parameter(s) epoch;" in err
    assert "valid: label, fusion, encoders, task," in err and "label_weights" in err and "progress" not in err
    config.write_text(json.dumps({"input": "image", "decoder": "gru"}))  # a captioner's, used without --task
    assert main(["fit", "t.csv", "--config", str(config)]) == 2
    assert "(they are a captioner's: use polymodal fit --task caption)" in capsys.readouterr().err
    config.write_text("- just\n- a list\n")
    assert main(["align", "t.csv", "--config", str(config)]) == 2
    assert "expected `parameter: value` lines" in capsys.readouterr().err
    assert main(["align", "t.csv", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read it" in capsys.readouterr().err
    assert captured == []


def test_the_files_task_picks_the_job_and_the_flag_wins(tmp_path, captured):
    config = tmp_path / "c.yaml"
    runs = {"task: caption\nhidden: 16\n": [], "task: text-to-audio\nepochs: 2\n": [],
            "task: text-to-audio\n": ["--task", "text-to-video"], "dim: 8\ncolumns: [a, b]\n": None}
    for text, flags in runs.items():
        config.write_text(text)
        with pytest.raises(Captured):
            main(["align", "t.csv", "--config", str(config)] if flags is None else
                 ["fit", "t.csv", "--config", str(config), *flags])
    kinds = [(kind, params.get("task")) for kind, params, _, _ in captured]
    assert kinds == [("captioner", None), ("generator", "text-to-audio"), ("generator", "text-to-video"),
                     ("aligner", None)]
    assert captured[0][1]["hidden"] == 16 and captured[1][1]["epochs"] == 2
    assert captured[3][1]["dim"] == 8 and captured[3][1]["columns"] == ["a", "b"]
