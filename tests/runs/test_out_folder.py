"""A fit's --out folder: a new fit never takes up an earlier fit's work in progress, a resume keeps
its own, and a finished run is replaced only when asked."""

import pytest

import polymodal as pm
from polymodal.errors import PolymodalError
from polymodal.runs.directory import MARKER, WORK_DIRS
from polymodal.runs.job import FIT_ARGS_FILE


def stale_work(out):
    for name in WORK_DIRS:
        (out / name / "attention").mkdir(parents=True)
        (out / name / "attention" / "checkpoint.json").write_text("{}")


def test_a_new_fit_clears_the_earlier_fits_candidates_and_checkpoints(tmp_path):
    stale_work(tmp_path)
    pm.Predictor("label", lr=1e-4)._start_fit(tmp_path)
    assert not any((tmp_path / name).exists() for name in WORK_DIRS)
    assert (tmp_path / FIT_ARGS_FILE).exists() and (tmp_path / "log.csv").exists() is False


def test_resume_keeps_the_work_of_the_fit_it_resumes(tmp_path):
    pm.Predictor("label")._start_fit(tmp_path)
    stale_work(tmp_path)  # now this fit's own work
    pm.Predictor("label")._start_fit(tmp_path, resume=True)
    assert all((tmp_path / name / "attention" / "checkpoint.json").exists() for name in WORK_DIRS)


def test_resume_without_a_recorded_fit_says_so_and_starts_clean(tmp_path):
    stale_work(tmp_path)
    with pytest.warns(UserWarning, match="no interrupted fit to resume"):
        pm.Predictor("label")._start_fit(tmp_path, resume=True)
    assert not any((tmp_path / name).exists() for name in WORK_DIRS)


def test_resume_with_other_arguments_is_refused_naming_them(tmp_path):
    pm.Predictor("label", lr=1e-3)._start_fit(tmp_path)
    with pytest.raises(PolymodalError, match=r"lr was 0.001, now 0.01"):
        pm.Predictor("label", lr=1e-2)._start_fit(tmp_path, resume=True)


def test_a_finished_run_is_refused_unless_overwrite_which_removes_its_marker_first(tmp_path):
    (tmp_path / MARKER).write_text("{}")
    stale_work(tmp_path)
    with pytest.raises(PolymodalError, match=r"holds a finished run.*--overwrite"):
        pm.Predictor("label")._start_fit(tmp_path)
    with pytest.raises(PolymodalError, match="nothing to resume"):
        pm.Predictor("label")._start_fit(tmp_path, resume=True)
    pm.Predictor("label")._start_fit(tmp_path, overwrite=True)
    assert not (tmp_path / MARKER).exists()  # an interrupted new fit never passes for the old run
    assert not any((tmp_path / name).exists() for name in WORK_DIRS)


def test_resume_needs_an_out_folder():
    with pytest.raises(PolymodalError, match="needs the run directory"):
        pm.Predictor("label")._start_fit(None, resume=True)
