"""Where a fit goes: a new runs/KIND-... folder by default; a finished --out is replaced only with
--overwrite; --resume needs --out; --val, --tensorboard and the switches reach the job's fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli.recording import Captured

from polymodal.cli import main

FIT = ["--label", "y", "--epochs", "1", "--hidden", "8", "--no-baselines"]


def test_the_default_out_is_a_new_folder_under_runs(numbers, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", str(numbers), *FIT]) == 0
    assert main(["fit", str(numbers), *FIT]) == 0  # a second fit never replaces the first
    runs = sorted(Path("runs").iterdir())
    assert len(runs) == 2 and all(r.name.startswith("predictor-") for r in runs)
    assert all(json.loads((r / "polymodal.json").read_text())["kind"] == "predictor" for r in runs)
    out = capsys.readouterr().out
    assert all(f"run written to {r}" in out for r in runs)
    assert f"if interrupted, add --out {runs[0]} --resume" in out


def test_a_finished_out_needs_overwrite(numbers, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["fit", str(numbers), *FIT, "--out", str(out)]) == 0
    assert main(["fit", str(numbers), *FIT, "--epochs", "2", "--out", str(out)]) == 2
    assert "holds a finished run" in capsys.readouterr().err
    assert json.loads((out / "fit_args.json").read_text())["epochs"] == 1  # untouched
    assert main(["fit", str(numbers), *FIT, "--epochs", "2", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "fit_args.json").read_text())["epochs"] == 2


@pytest.mark.parametrize("command", [["fit", "t.csv", "--label", "y"], ["align", "t.csv"]])
def test_resume_needs_out(command, captured, capsys):
    assert main([*command, "--resume"]) == 2
    assert "--resume continues an interrupted fit: give its run folder with --out RUN" in capsys.readouterr().err
    with pytest.raises(Captured):
        main([*command, "--resume", "--out", "r", "--overwrite", "--tensorboard"])
    assert captured[0][3] == {"out": Path("r"), "resume": True, "overwrite": True, "tensorboard": True}


def test_val_reaches_tuning_data_and_only_predictors_take_it(captured, capsys):
    with pytest.raises(Captured):
        main(["fit", "t.csv", "--label", "y", "--val", "v.csv", "--out", "r"])
    assert captured[0][3] == {"out": Path("r"), "tuning_data": "v.csv"}
    for task in ("caption", "text-to-image"):
        assert main(["fit", "t.csv", "--task", task, "--val", "v.csv"]) == 2
        assert f"--val applies to predictors; --task {task} has no separate validation table" in \
            capsys.readouterr().err
    assert len(captured) == 1
