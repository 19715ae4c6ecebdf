"""Tasks own losses, target encoding and predictions; models own features."""

from __future__ import annotations

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
    """Build and fit the task for `labels` on the training rows `df`."""
    if not labels:
        raise PolymodalError("no label column given: pass label=... (CLI: --label COL)")
    tasks = []
    for column in labels:
        k = infer_kind(df[column], column) if kind == "auto" else kind
        if k not in ("classification", "multilabel", "regression"):
            raise PolymodalError(f"unknown task {k!r}; valid: auto, classification, multilabel, regression")
        task = Classification(column, imbalance=imbalance) if k == "classification" else KINDS[k](column)
        tasks.append(task.fit(df[column]))
    if len(tasks) == 1:
        return tasks[0]
    return MultiTask(tasks, weights)


def encode_targets(task: Task, df: pd.DataFrame):
    return task.encode(df) if isinstance(task, MultiTask) else task.encode(df[task.column])


def task_from_state(state: dict) -> Task:
    if state.get("kind") not in KINDS:
        raise PolymodalError(f"unknown task kind {state.get('kind')!r} in run directory")
    return KINDS[state["kind"]].from_state(state)


__all__ = ["IMBALANCE", "KINDS", "Classification", "MultiLabel", "MultiTask", "Regression", "Task", "TaskOutput",
           "encode_targets", "focal_loss", "infer_kind", "make_task", "task_from_state"]
