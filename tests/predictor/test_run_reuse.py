"""A fit into a used --out never takes up an earlier fit's work in progress."""

import pytest

import polymodal as pm
from polymodal.run_io import FIT_ARGS_FILE, WORK_DIRS, check_resumable


def stale_work(out):
    for name in WORK_DIRS:
        (out / name / "attention").mkdir(parents=True)
        (out / name / "attention" / "checkpoint.json").write_text("{}")


def test_a_new_fit_clears_the_earlier_fits_candidates_and_checkpoints(tmp_path):
    stale_work(tmp_path)
    check_resumable(pm.Predictor("label", lr=1e-4), tmp_path, resume=False)
    assert not any((tmp_path / name).exists() for name in WORK_DIRS)
    assert (tmp_path / FIT_ARGS_FILE).exists()


def test_resume_keeps_the_work_of_the_fit_it_resumes(tmp_path):
    check_resumable(pm.Predictor("label"), tmp_path, resume=False)
    stale_work(tmp_path)  # now this fit's own work
    check_resumable(pm.Predictor("label"), tmp_path, resume=True)
    assert all((tmp_path / name / "attention" / "checkpoint.json").exists() for name in WORK_DIRS)


def test_resume_without_a_recorded_fit_says_so_and_starts_clean(tmp_path):
    stale_work(tmp_path)
    with pytest.warns(UserWarning, match="no interrupted fit to resume"):
        check_resumable(pm.Predictor("label"), tmp_path, resume=True)
    assert not any((tmp_path / name).exists() for name in WORK_DIRS)
