"""Tasks own losses, target encoding and predictions; models own features."""

from __future__ import annotations

import math

import pandas as pd

from ..errors import PolymodalError
from .base import Task, TaskOutput, infer_kind
from .classification import IMBALANCE, Classification, focal_loss
from .multilabel import MultiLabel
from .multitask import MultiTask
from .regression import Regression

KINDS = {"classification": Classification, "multilabel": MultiLabel, "regression": Regression,
         "multitask": MultiTask}


def make_task(df: pd.DataFrame, labels: list[str], *, kind: str = "auto", imbalance: str = "none",
              weights: list[float] | None = None) -> Task:
    """Build and fit the task for `labels` on the training rows `df`. `imbalance` applies to the
    classification labels (an error when there is none); `weights`: one loss weight per label."""
    if not labels:
        raise PolymodalError("no label column given: pass label=... (CLI: --label COL)")
    kinds = {column: infer_kind(df[column], column) if kind == "auto" else kind for column in labels}
    for k in kinds.values():
        if k not in ("classification", "multilabel", "regression"):
            raise PolymodalError(f"unknown task {k!r}; valid: auto, classification, multilabel, regression")
    if imbalance != "none" and "classification" not in kinds.values():
        raise PolymodalError(f"imbalance={imbalance!r} re-weights classes of a classification label, but "
                             + ", ".join(f"{c!r} is {k}" for c, k in kinds.items()))
    tasks = [(Classification(column, imbalance=imbalance) if k == "classification" else KINDS[k](column))
             .fit(df[column]) for column, k in kinds.items()]
    if len(tasks) == 1:
        return tasks[0]
    return MultiTask(tasks, check_weights(weights, labels))


def check_weights(weights: list[float] | None, labels: list[str]) -> list[float] | None:
    """Loss weights, one per label: finite, not negative, not all zero."""
    if weights is None:
        return None
    weights = [float(w) for w in weights]
    if len(weights) != len(labels):
        raise PolymodalError(f"{len(weights)} loss weight(s) for {len(labels)} label(s) {', '.join(labels)}")
    bad = [f"{c}={w}" for c, w in zip(labels, weights, strict=True) if not math.isfinite(w) or w < 0]
    if bad or not any(weights):
        raise PolymodalError("label loss weights must be finite, not negative and not all zero; got "
                             + ", ".join(bad or [f"{c}={w}" for c, w in zip(labels, weights, strict=True)]))
    return weights


def encode_targets(task: Task, df: pd.DataFrame):
    return task.encode(df) if isinstance(task, MultiTask) else task.encode(df[task.column])


def task_from_state(state: dict) -> Task:
    if state.get("kind") not in KINDS:
        raise PolymodalError(f"unknown task kind {state.get('kind')!r} in run directory")
    return KINDS[state["kind"]].from_state(state)


__all__ = ["IMBALANCE", "KINDS", "Classification", "MultiLabel", "MultiTask", "Regression", "Task", "TaskOutput",
           "check_weights", "encode_targets", "focal_loss", "infer_kind", "make_task", "task_from_state"]
