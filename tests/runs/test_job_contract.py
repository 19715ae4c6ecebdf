"""The contract every job kind keeps (runs/job.py), checked on each entry of the kinds table:
fit on a tiny table -> save -> load -> save again -> load gives identical outputs at every step;
a fit interrupted mid-way and resumed ends where an uninterrupted one ends; damaged and missing
run files are errors that name them; parameters round-trip through scikit-learn's `clone`."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from tests.killing import ENV, kill_at_random, leftovers

import polymodal as pm
from polymodal.errors import PolymodalError
from polymodal.runs import directory
from polymodal.runs.files import read_json, write_json
from polymodal.runs.kinds import KINDS, job_class
from polymodal.runs.log import EpochLog

PROMPTS = ["a small red circle on the left", "a large blue square on the right"]

# kind -> a job small enough to fit in seconds on the tiny shapes table (scratch encoders where they
# exist: the contract is about the skeleton, not the pretrained weights)
TINY = {
    "predictor": lambda: pm.Predictor("shape", fusion="gated", pretrained=False, hidden=16, epochs=3, batch_size=16,
                                      overrides={"audio": "ignore", "video": "ignore", "video_caption": "ignore",
                                                 "color": "ignore", "size": "ignore", "position": "ignore",
                                                 "count": "ignore", "motion": "ignore"}, progress=False),
    "aligner": lambda: pm.Aligner(["caption", "image"], pretrained=False, dim=16, hidden=32, epochs=3, batch_size=16,
                                  progress=False),
    "captioner": lambda: pm.Captioner("image", "caption", hidden=32, epochs=3, batch_size=16, progress=False),
    "generator": lambda: pm.Generator("text-to-image", "cvae", prompt="caption", target="image", image_size=16,
                                      width=8, z_dim=8, cond_dim=16, batch_size=16, epochs=3, text_encoder="gru",
                                      evaluate_after_fit=False, progress=False),
}


def outputs(job, table):
    """What each kind produces for a user: compared exactly between fitted and reloaded objects."""
    df = pd.read_parquet(table)
    if job.kind == "predictor":
        return job.predict_proba(table)
    if job.kind == "aligner":
        return job.embed("caption", df["caption"].head(6).tolist())
    files = [str(table.parent / p) for p in df["image"].head(4)]
    if job.kind == "captioner":
        return job.caption(files, beam_size=2)
    return job.generate(PROMPTS, n=2, seed=1)


def same(a, b, atol: float = 0.0) -> None:
    """Equal outputs: bit for bit with `atol=0`, else within `atol` (numbers; text stays exact)."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=atol == 0, atol=atol, rtol=0)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b) if atol == 0 else torch.allclose(a, b, atol=atol, rtol=0)
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b) if atol == 0 else np.allclose(a, b, atol=atol, rtol=0)
    else:
        assert a == b


def test_every_kind_has_a_tiny_job():
    assert set(TINY) == set(KINDS)
    for kind in KINDS:
        assert job_class(kind).kind == kind and isinstance(TINY[kind](), job_class(kind))


@pytest.fixture(scope="module", params=sorted(KINDS))
def fitted(request, tiny_shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"job-{request.param}") / "run"
    return TINY[request.param]().fit(tiny_shapes, out=out), out


def test_save_load_save_load_gives_identical_outputs(fitted, tiny_shapes, tmp_path):
    job, run = fitted
    first = outputs(job, tiny_shapes)
    loaded = pm.load(run)
    assert type(loaded) is type(job) and type(job).load(run).get_params() == loaded.get_params()
    same(first, outputs(loaded, tiny_shapes))
    again = loaded.save(tmp_path / "again")
    twice = pm.load(again)
    same(first, outputs(twice, tiny_shapes))
    for name in ("metrics.json", "README.md", "report.html", "log.csv", "fit_args.json"):
        assert (again / name).read_bytes() == (run / name).read_bytes(), name  # what the fit recorded goes along


def test_the_run_holds_a_log_a_card_and_its_own_config(fitted):
    job, run = fitted
    log = pd.read_csv(run / "log.csv")
    assert len(log) >= 3 and {"stage", "epoch"} <= set(log.columns)
    card = (run / "README.md").read_text()
    assert f"{type(job).__name__}.load" in card and "## Parameters" in card and "## Limits" in card
    assert read_json(run / "fit_args.json") == job.fit_params() == pm.load(run).fit_params()
    assert not (run / "checkpoints").exists()  # a finished run keeps nothing to resume


def test_params_round_trip_through_sklearn_clone(fitted):
    job, _ = fitted
    copy = clone(job)
    assert type(copy) is type(job) and copy.get_params() == job.get_params() and not hasattr(copy, "model_")
    copy.set_params(seed=7)
    assert copy.seed == 7 and job.seed == 0
    with pytest.raises(PolymodalError, match="has no parameter"):
        copy.set_params(no_such_knob=1)
    assert "seed=7" in repr(copy)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_resume_after_an_interrupt_ends_where_an_uninterrupted_fit_ends(kind, tiny_shapes, tmp_path, monkeypatch):
    whole = TINY[kind]().fit(tiny_shapes, out=tmp_path / "whole")
    real_log = EpochLog.log

    def interrupt_at_epoch_1(self, stage, row):
        real_log(self, stage, row)
        if int(row["epoch"]) == 1:  # after epoch 0's checkpoint, before epoch 1's
            raise KeyboardInterrupt

    monkeypatch.setattr(EpochLog, "log", interrupt_at_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        TINY[kind]().fit(tiny_shapes, out=tmp_path / "cut")
    monkeypatch.setattr(EpochLog, "log", real_log)
    assert not (tmp_path / "cut" / directory.MARKER).exists()
    with pytest.raises(PolymodalError, match="not a run directory"):
        pm.load(tmp_path / "cut")
    resumed = TINY[kind]().fit(tiny_shapes, out=tmp_path / "cut", resume=True)
    # Bit for bit on this machine. The tolerance (float32 rounding over a few epochs) is for the one thing a
    # resume changes that save/load does not: training continues in a new process state (thread pools,
    # allocator), where a reduction may be split differently. Text outputs stay exact.
    same(outputs(whole, tiny_shapes), outputs(resumed, tiny_shapes), atol=1e-5)


def test_missing_and_damaged_files_are_named_errors(fitted, tmp_path):
    job, run = fitted
    for name in (directory.MARKER, "weights.safetensors", *type(job).FILES):
        broken = tmp_path / f"missing-{name}"
        shutil.copytree(run, broken)
        (broken / name).unlink()
        with pytest.raises(PolymodalError, match=name.replace(".", r"\.")):
            pm.load(broken)
        damaged = tmp_path / f"damaged-{name}"
        shutil.copytree(run, damaged)
        (damaged / name).write_bytes(b"\x00not what it should be")
        with pytest.raises(PolymodalError, match=name.replace(".", r"\.")):
            type(job).load(damaged)


@pytest.mark.parametrize("method", ["asif", "cca", "procrustes", "ridge"])
def test_every_alignment_method_saves_loads_and_refits_to_identical_outputs(method, tiny_shapes, tmp_path):
    """An aligner serving a closed form (alignment/methods/) keeps the contract: its arrays are saved at the
    precision it embeds with, so bit for bit; the same seed refits the same. Fixed encoders (MFCC, MiniLM):
    a closed form needs cached features, which the scratch encoders of TINY do not give."""
    def fit(out):
        return pm.Aligner(["audio", "caption"], encoders={"audio": "mfcc", "text": "minilm"}, method=method,
                          progress=False).fit(tiny_shapes, out=out)

    job = fit(tmp_path / "run")
    first = outputs(job, tiny_shapes)
    loaded = pm.load(tmp_path / "run")
    assert loaded.method_ == method
    same(first, outputs(loaded, tiny_shapes))
    same(first, outputs(pm.load(loaded.save(tmp_path / "again")), tiny_shapes))
    same(first, outputs(fit(tmp_path / "refit"), tiny_shapes))


def test_an_unfitted_job_says_how_to_get_a_fitted_one():
    for kind in KINDS:
        job = TINY[kind]()
        with pytest.raises(PolymodalError, match=rf"not fitted yet.*{type(job).__name__}\.load"):
            job.save("nowhere")


COMMAND = {"aligner": ["align"], "captioner": ["fit", "--task", "caption"],
           "generator": ["fit", "--task", "text-to-image"]}  # the predictor's: tests/predict/test_cli_fit.py


@pytest.mark.slow
def test_a_fit_killed_at_a_random_moment_resumes_to_the_same_run(fitted, tiny_shapes, tmp_path):
    """SIGKILL (no clean-up runs) anywhere from the fit's start to its end, then `--resume` from the command line
    with the run's own fit_args.json as --config: the outputs of the fixture's uninterrupted fit, no temporary
    file left, and until the resume the folder never passes for a finished run."""
    job, _ = fitted
    if job.kind not in COMMAND:
        pytest.skip("the predictor's kill test fits through the command line in tests/predict/test_cli_fit.py")
    config = write_json(tmp_path / "config.json", job.fit_params())
    cut = tmp_path / "cut"
    cmd = [sys.executable, "-m", "polymodal", *COMMAND[job.kind], str(tiny_shapes), "--config", str(config),
           "--out", str(cut)]
    delay = kill_at_random(cmd, cut, seconds=job.fit_seconds_, seed=job.kind,
                           started=lambda: (cut / "fit_args.json").exists())
    resumed = not (cut / directory.MARKER).exists()  # else killed after the save, removing the checkpoints
    if resumed:
        with pytest.raises(PolymodalError, match="not a run directory"):
            pm.load(cut)
        done = subprocess.run([*cmd, "--resume"], env=ENV, capture_output=True, text=True)
        assert done.returncode == 0, f"killed after {delay:.2f} s; the resume failed:\n{done.stderr[-3000:]}"
    # the tolerance: that of the in-process resume above (a new process state may split a reduction differently)
    same(outputs(job, tiny_shapes), outputs(pm.load(cut), tiny_shapes), atol=1e-5)
    assert leftovers(cut) == [] and (not resumed or not (cut / "checkpoints").exists())
