"""Knowledge distillation (predict/distill.py): the loss is Hinton et al.'s, every student candidate has a
twin that learns from the teacher, the choice between them is made on validation, the run records both
footprints, and `polymodal distill --student only:COLUMN` gives a one-column student."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.predict import distill as distill_module
from polymodal.predict.distill import Distillation
from polymodal.tasks import Classification

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}
FAST = {"batch_size": 16, "hidden": 16, "estimate": "holdout", "progress": False}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distill")
    table = make_table(folder, rows=48)
    pm.Predictor("color", fusion="concat", encoders=ENCODERS, classical="none", baselines=False, ensemble=False,
                 epochs=4, **FAST).fit(table, out=folder / "teacher")
    return folder / "teacher", table


def test_the_loss_is_soft_and_hard_targets_weighed_by_alpha():
    task = Classification("y").fit(pd.Series(["a", "b", "c"] * 2))
    torch.manual_seed(0)
    logits, teacher = torch.randn(6, 3), torch.log_softmax(torch.randn(6, 3), 1)
    hard = torch.tensor([0, 1, 2, 0, 1, 2])
    loss = Distillation(task, temperature=3.0, alpha=0.25).step(logits, {"hard": hard, "soft": teacher}).loss
    p_t = torch.softmax(teacher / 3, 1)
    kl = (p_t * (torch.log(p_t) - torch.log_softmax(logits / 3, 1))).sum(1).mean()
    expected = 0.25 * 9 * kl + 0.75 * F.cross_entropy(logits, hard)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    plain = Distillation(task, 3.0, 0.25).step(logits, hard).loss  # validation rows: the plain task
    assert float(plain) == pytest.approx(float(F.cross_entropy(logits, hard)), rel=1e-6)


def test_each_candidate_gets_a_twin_taught_by_the_teacher_and_the_choice_is_on_validation(teacher, tmp_path,
                                                                                          monkeypatch):
    path, table = teacher
    taught = []
    step = Distillation.step

    def spy(self, logits, targets):
        taught.append(isinstance(targets, dict))
        return step(self, logits, targets)

    monkeypatch.setattr(Distillation, "step", spy)
    p = pm.Predictor("color", fusion="concat", encoders=ENCODERS, teacher=path, classical="none", baselines=False,
                     ensemble=False, epochs=3, **FAST).fit(table, out=tmp_path / "student")
    assert [c.name for c in p.candidates_] == ["concat", "concat+teacher"] and any(taught)
    monitor = p.task_.monitor
    assert p.best_.val[monitor] == max(c.val[monitor] for c in p.candidates_)
    saved = json.loads((tmp_path / "student" / "metrics.json").read_text())["distillation"]
    assert saved["temperature"] == 4.0 and saved["alpha"] == 0.5
    assert saved["student_footprint"]["size_mb"] > 0 and saved["teacher_footprint"]["ms_per_row"] > 0
    again = pm.load(tmp_path / "student")
    pd.testing.assert_frame_equal(p.predict_proba(table), again.predict_proba(table))


def test_the_soft_targets_are_the_teachers_probabilities_in_the_students_class_order(teacher):
    path, table = teacher
    run = pm.load(path)
    task = Classification("color").fit(pd.Series(["red", "green", "blue"]))
    logp = distill_module.teacher_logits(run, table, task)
    proba = run.predict_proba(table)
    for j, c in enumerate(task.classes):
        torch.testing.assert_close(torch.exp(logp[:, j]), torch.tensor(proba[f"proba_color_{c}"].to_numpy(),
                                                                       dtype=torch.float32), atol=1e-6, rtol=0)


def test_the_cli_distills_into_a_one_column_student(teacher, tmp_path, capsys):
    path, table = teacher
    assert main(["distill", str(path), str(table), "--student", "only:photo", "--epochs", "2", "--out",
                 str(tmp_path / "s")]) == 0
    student = pm.load(tmp_path / "s")
    assert student.model_.modalities == ["photo"] and "ms a row" in capsys.readouterr().out


@pytest.mark.parametrize(("settings", "message"), [
    ({"temperature": 0}, "temperature must be a positive number"),
    ({"alpha": 1.5}, "alpha .* must be between 0 and 1"),
    ({"bag_folds": 3}, "cannot be combined with bag_folds"),
])
def test_bad_settings_are_refused_before_any_work(settings, message, tmp_path):
    with pytest.raises(PolymodalError, match=message):
        pm.Predictor("color", teacher="some/run", **settings).fit(tmp_path / "no-such-table.csv")


def test_a_student_of_another_label_is_refused(teacher):
    path, table = teacher
    with pytest.raises(PolymodalError, match="the teacher predicts 'color', the student 'other'"):
        distill_module.teacher_logits(pm.load(path), table, Classification("other").fit(pd.Series(["x", "y"])))
