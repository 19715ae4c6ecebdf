"""The fit/evaluate/predict/runs commands, and resuming a `fit` killed with SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from polymodal.cli import main
from polymodal.data.recipes import build

IGNORE = ["caption", "video", "video_caption", "color", "size", "position", "count", "motion"]
ENCODERS = "image=cnn:image_size=32:width=8:out_dim=32,audio=mfcc"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return build("shapes", tmp_path_factory.mktemp("data") / "shapes", size=80, seed=1)


def fit_args(table, out, *extra):
    ignore = [a for c in IGNORE for a in ("--ignore", c)]
    return ["fit", str(table), "--label", "shape", *ignore, "--encoders", ENCODERS, "--hidden", "32",
            "--batch-size", "16", "--out", str(out), *extra]


@pytest.mark.slow
def test_fit_evaluate_predict_compare(shapes, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(fit_args(shapes, run, "--epochs", "4", "--no-baselines", "--classical", "none")) == 0
    assert "best: concat" in capsys.readouterr().out
    assert main(["evaluate", str(run), str(shapes), "--drop", "audio", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0 <= metrics["accuracy"] <= 1 and len(metrics["confusion_matrix"]) == 4
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(shapes), "-o", str(out)]) == 0
    pred = pd.read_csv(out)
    assert len(pred) == 80 and {"shape", "proba_shape_circle"} <= set(pred.columns)
    assert pred.columns[0] == "id" and pred["id"].tolist() == pd.read_parquet(shapes)["id"].tolist()  # joinable
    assert pred.filter(like="proba_").sum(axis=1).round(4).eq(1).all()
    capsys.readouterr()
    no_audio = tmp_path / "no-audio.csv"
    pd.read_parquet(shapes).drop(columns=["audio"]).assign(
        image=lambda d: [str(shapes.parent / v) for v in d["image"]]).to_csv(no_audio, index=False)
    assert main(["predict", str(run), str(no_audio), "-o", str(tmp_path / "pred2.csv")]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "no column(s) audio" in err and "UserWarning" not in err  # no source lines
    assert main(["runs", "compare", str(run), str(run)]) == 0
    assert "concat" in capsys.readouterr().out


def test_fit_with_bad_label_is_a_clear_error(shapes, tmp_path, capsys):
    assert main(["fit", str(shapes), "--label", "shapes", "--out", str(tmp_path / "r")]) == 2
    assert "no column named 'shapes' (did you mean 'shape'?)" in capsys.readouterr().err


def test_fit_with_zero_epochs_is_refused_not_replaced_by_the_default(shapes, tmp_path, capsys):
    assert main(fit_args(shapes, tmp_path / "r", "--epochs", "0")) == 2
    assert "invalid training setting(s): epochs=0 (an integer >= 1)" in capsys.readouterr().err


@pytest.mark.slow
def test_kill_9_mid_fit_then_resume_gives_the_same_metrics(shapes, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    def cmd(out):
        return [sys.executable, "-m", "polymodal", *fit_args(shapes, out, "--epochs", "10", "--fusion",
                                                             "concat,gated", "--patience", "99")]

    subprocess.run(cmd(tmp_path / "a"), check=True, env=env, capture_output=True)
    killed = cmd(tmp_path / "b")
    proc = subprocess.Popen(killed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pointer = tmp_path / "b" / "checkpoints" / "gated" / "checkpoint.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # wait until the second candidate is mid-way
        if pointer.exists() and json.loads(pointer.read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "fit finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "b" / "metrics.json").exists()
    subprocess.run([*killed, "--resume"], check=True, env=env, capture_output=True)
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    for key in ("val", "test"):
        assert a[key]["accuracy"] == b[key]["accuracy"] and a[key]["log_loss"] == pytest.approx(b[key]["log_loss"])
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in a["comparison"]]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in b["comparison"]]
