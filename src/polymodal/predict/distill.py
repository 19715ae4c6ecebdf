"""Knowledge distillation (Hinton, Vinyals and Dean 2015): a student learns from a fitted teacher run's
soft predictions as well as from the labels (`Predictor(teacher=RUN)`, `polymodal distill`).

The teacher (any predictor run of the same label, an ensemble included) predicts every row of the student's
table once. Each student candidate is then fitted twice: as usual, and against

    alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy(label, student)

where `_T` is the softmax at temperature T (T^2 keeps the soft term's gradients on the scale of the hard
one's). The distilled twin is named `NAME+teacher`; the saved model is whichever is best on validation, so
distilling never ships a student worse there than the same student without a teacher. A student may read
fewer columns than its teacher (`only:COLUMN`): cross-modal distillation, for serving where the other
modalities are missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import PolymodalError
from ..tasks import Classification
from ..tasks.base import Task, TaskOutput
from ..training.data import ArrayData

SUFFIX = "+teacher"


def check_distill(teacher, temperature: float, alpha: float, bag_folds: int, unlabeled: str) -> None:
    if teacher is None:
        return
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
        raise PolymodalError(f"temperature must be a positive number, got {temperature!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise PolymodalError(f"alpha (the soft targets' share of the loss) must be between 0 and 1, got {alpha!r}")
    if bag_folds or unlabeled == "use":
        raise PolymodalError("a teacher cannot be combined with bag_folds or unlabeled='use' yet: choose one")


class Distillation(Task):
    """The student's training task: hard and soft targets together ({"hard", "soft"} dict targets); on plain
    targets (validation rows) it is the base task."""

    def __init__(self, base: Classification, temperature: float, alpha: float):
        self.base, self.temperature, self.alpha = base, float(temperature), float(alpha)
        self.kind, self.column, self.monitor, self.out_dim = base.kind, base.column, base.monitor, base.out_dim

    def step(self, logits: torch.Tensor, targets) -> TaskOutput:
        if not isinstance(targets, dict):
            return self.base.step(logits, targets)
        hard = self.base.step(logits, targets["hard"]).loss
        t = self.temperature
        soft = F.kl_div(F.log_softmax(logits / t, 1), F.log_softmax(targets["soft"] / t, 1), log_target=True,
                        reduction="batchmean") * t * t
        return TaskOutput(self.alpha * soft + (1 - self.alpha) * hard, logits)

    def metrics(self, logits, targets) -> dict:
        return self.base.metrics(logits, targets["hard"] if isinstance(targets, dict) else targets)

    def monitor_value(self, logits, targets) -> float:
        return self.base.monitor_value(logits, targets["hard"] if isinstance(targets, dict) else targets)

    def predict(self, logits):
        return self.base.predict(logits)

    def sample_weights(self, targets):
        return self.base.sample_weights(targets["hard"] if isinstance(targets, dict) else targets)


def load_teacher(teacher):
    from ..api import load
    from .predictor import Predictor

    run = load(teacher) if isinstance(teacher, str | Path) else teacher
    if not isinstance(run, Predictor):
        raise PolymodalError(f"the teacher must be a predictor run; {teacher} is a {getattr(run, 'kind', '?')} run")
    if not isinstance(run.task_, Classification):
        raise PolymodalError(f"distillation needs a single-label classifier as teacher; its task is {run.task_.kind}")
    return run


def teacher_logits(teacher, table, task: Classification) -> torch.Tensor:
    """The teacher's log-probabilities `[N, classes]` of every row of `table`, in the student's class order."""
    if teacher.task_.column != task.column:
        raise PolymodalError(f"the teacher predicts {teacher.task_.column!r}, the student {task.column!r}")
    missing = [c for c in task.classes if c not in teacher.task_.classes]
    if missing:
        raise PolymodalError(f"the teacher never saw the class(es) {', '.join(map(repr, missing))} of this table")
    proba = teacher.predict_proba(table)
    columns = [f"proba_{task.column}_{c}" for c in task.classes]
    return torch.log(torch.from_numpy(proba[columns].to_numpy(dtype=np.float32)).clamp_min(1e-8))


def with_soft_targets(part: ArrayData, soft: torch.Tensor) -> ArrayData:
    return ArrayData(part.inputs, part.masks, {"hard": part.targets, "soft": soft}, part.groups)


def footprint(run, table) -> dict:
    """A run's size (parameters and buffers of its saved model, MB) and its latency on `table` (ms a row,
    `predict_proba` end to end: reading features and the model)."""
    model = run.model_
    size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    run.predict_proba(table)  # a warm-up: the first call pays for loading encoders
    started = time.perf_counter()
    run.predict_proba(table)
    rows = max(1, len(table.df) if hasattr(table, "df") else len(table))
    return {"size_mb": round(size / 2**20, 3), "ms_per_row": round(1000 * (time.perf_counter() - started) / rows, 3)}
