"""Regression on a numeric label. Targets are standardised with the training mean and std so one
learning rate suits any scale; predictions are mapped back."""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

from ..errors import PolymodalError
from .base import Task, TaskOutput


class Regression(Task):
    kind = "regression"
    monitor = "neg_rmse"
    out_dim = 1

    def __init__(self, column: str):
        super().__init__(column)
        self.mean, self.std = 0.0, 1.0

    def fit(self, values: pd.Series) -> Regression:
        numbers = pd.to_numeric(values, errors="coerce").dropna()
        if len(numbers) < 2:
            raise PolymodalError(f"label column {self.column!r} needs at least two numeric values")
        self.mean, self.std = float(numbers.mean()), float(numbers.std() or 1.0)
        return self

    def encode(self, values: pd.Series) -> torch.Tensor:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float32")
        return torch.from_numpy((numbers - self.mean) / self.std)

    def step(self, logits: torch.Tensor, targets: torch.Tensor) -> TaskOutput:
        return TaskOutput(F.mse_loss(logits[:, 0], targets.float()), logits)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict:
        from ..metrics.regression import regression_metrics

        pred = logits[:, 0].float().numpy() * self.std + self.mean
        true = targets.float().numpy() * self.std + self.mean
        out = regression_metrics(true, pred)
        out["neg_rmse"] = -out["rmse"]
        return out

    def monitor_value(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        return -float(((logits[:, 0] - targets.float()) ** 2).mean().sqrt()) * self.std

    def predict(self, logits: torch.Tensor) -> pd.DataFrame:
        return pd.DataFrame({self.column: logits[:, 0].float().numpy() * self.std + self.mean})

    def state(self) -> dict:
        return {"kind": self.kind, "column": self.column, "mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, state: dict) -> Regression:
        task = cls(state["column"])
        task.mean, task.std = state["mean"], state["std"]
        return task
