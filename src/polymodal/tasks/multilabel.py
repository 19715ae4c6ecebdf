"""Multi-label classification: each cell holds several labels (a list, or a '|'-joined string)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..errors import PolymodalError
from .base import Task, TaskOutput


def split_labels(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    return [s.strip() for s in str(value).split("|") if s.strip()]


class MultiLabel(Task):
    kind = "multilabel"
    monitor = "f1_micro"

    def __init__(self, column: str, *, threshold: float = 0.5):
        super().__init__(column)
        self.threshold = threshold
        self.labels: list[str] = []

    @property
    def out_dim(self) -> int:
        return len(self.labels)

    def fit(self, values: pd.Series) -> MultiLabel:
        self.labels = sorted({label for v in values for label in split_labels(v)})
        if len(self.labels) < 2:
            raise PolymodalError(f"label column {self.column!r} holds fewer than two distinct labels")
        return self

    def encode(self, values: pd.Series) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.labels)}
        out = torch.zeros(len(values), len(self.labels))
        for row, v in enumerate(values):
            for label in split_labels(v):
                if label in index:
                    out[row, index[label]] = 1.0
        return out

    def step(self, logits: torch.Tensor, targets: torch.Tensor) -> TaskOutput:
        return TaskOutput(F.binary_cross_entropy_with_logits(logits, targets.float()), logits)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict:
        from ..metrics.multilabel import multilabel_metrics

        return multilabel_metrics(targets.numpy(), torch.sigmoid(logits.float()).numpy(), self.labels,
                                  threshold=self.threshold)

    def predict(self, logits: torch.Tensor) -> pd.DataFrame:
        proba = torch.sigmoid(logits.float()).numpy()
        chosen = ["|".join(self.labels[j] for j in np.nonzero(row >= self.threshold)[0]) for row in proba]
        out = pd.DataFrame({self.column: chosen})
        for j, c in enumerate(self.labels):
            out[f"proba_{self.column}_{c}"] = proba[:, j]
        return out

    def state(self) -> dict:
        return {"kind": self.kind, "column": self.column, "labels": self.labels, "threshold": self.threshold}

    @classmethod
    def from_state(cls, state: dict) -> MultiLabel:
        task = cls(state["column"], threshold=state["threshold"])
        task.labels = list(state["labels"])
        return task
