"""The task contract: a task owns its targets' encoding, its loss and its predictions.

A task is built from the training values of its label column(s) (`fit`), turns
label cells into target tensors (`encode`), and maps model outputs (`[B,
out_dim]`) to a loss (`TaskOutput`) and to predictions. Its learned state
(classes, target scaling) round-trips through `state()` / `from_state()` as
JSON, so a run directory needs no pickle.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from ..errors import PolymodalError


class TaskOutput(NamedTuple):
    loss: torch.Tensor  # scalar
    logits: torch.Tensor  # [B, out_dim]


class Task:
    kind: str = ""
    out_dim: int = 0
    monitor: str = ""  # the validation metric early stopping watches (higher is better)

    def __init__(self, column: str):
        self.column = column

    def fit(self, values: pd.Series) -> Task:
        raise NotImplementedError

    def encode(self, values: pd.Series) -> torch.Tensor:
        raise NotImplementedError

    def step(self, logits: torch.Tensor, targets: torch.Tensor) -> TaskOutput:
        raise NotImplementedError

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        raise NotImplementedError

    def monitor_value(self, logits: torch.Tensor, targets) -> float:
        """The early-stopping metric alone (called every epoch, so tasks make it cheap)."""
        return float(self.metrics(logits, targets)[self.monitor])

    def predict(self, logits: torch.Tensor) -> pd.DataFrame:
        """Predictions as columns: `<label>` plus probabilities/scores where they exist."""
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict) -> Task:
        raise NotImplementedError

    def sample_weights(self, targets: torch.Tensor) -> torch.Tensor | None:
        """Per-row weights for a weighted sampler (class imbalance); None when not applicable."""
        return None


def infer_kind(values: pd.Series, column: str) -> str:
    """classification, multilabel (cells holding lists or '|'-joined labels) or regression."""
    present = values.dropna()
    if present.empty:
        raise PolymodalError(f"label column {column!r} has no values")
    if present.map(lambda v: isinstance(v, list | tuple | np.ndarray)).all():
        return "multilabel"
    if present.map(lambda v: isinstance(v, str) and "|" in v).mean() > 0.2:  # "a|b" cells: several labels
        return "multilabel"
    if pd.api.types.is_float_dtype(present) and present.nunique() > 20:
        return "regression"
    if pd.api.types.is_integer_dtype(present) and present.nunique() > 50:
        return "regression"
    return "classification"
