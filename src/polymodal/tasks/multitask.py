"""Several label columns at once: one head output split per task, losses summed with weights.
Targets travel as a dict keyed by label column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .base import Task, TaskOutput


class MultiTask(Task):
    kind = "multitask"
    monitor = "mean_monitor"

    def __init__(self, tasks: list[Task], weights: list[float] | None = None):
        super().__init__("+".join(t.column for t in tasks))
        self.tasks = tasks
        self.weights = list(weights) if weights else [1.0] * len(tasks)

    @property
    def out_dim(self) -> int:
        return sum(t.out_dim for t in self.tasks)

    def _split(self, logits: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(logits, [t.out_dim for t in self.tasks], dim=1))

    def fit(self, values: pd.DataFrame) -> MultiTask:
        for t in self.tasks:
            t.fit(values[t.column])
        return self

    def encode(self, values: pd.DataFrame) -> dict[str, torch.Tensor]:
        return {t.column: t.encode(values[t.column]) for t in self.tasks}

    def step(self, logits: torch.Tensor, targets: dict[str, torch.Tensor]) -> TaskOutput:
        parts = self._split(logits)
        loss = sum(w * t.step(p, targets[t.column]).loss for t, w, p in zip(self.tasks, self.weights, parts,
                                                                             strict=True))
        return TaskOutput(loss, logits)

    def metrics(self, logits: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict:
        parts = self._split(logits)
        out = {t.column: t.metrics(p, targets[t.column]) for t, p in zip(self.tasks, parts, strict=True)}
        out["mean_monitor"] = float(np.mean([out[t.column][t.monitor] for t in self.tasks]))
        return out

    def monitor_value(self, logits: torch.Tensor, targets: dict[str, torch.Tensor]) -> float:
        """`mean_monitor` from each label's own cheap monitor. The full metrics (a one-vs-rest AUC per class,
        through scikit-learn's input checks) took two thirds of a small multi-label fit's time, every epoch."""
        return float(np.mean([t.monitor_value(p, targets[t.column])
                              for t, p in zip(self.tasks, self._split(logits), strict=True)]))

    def predict(self, logits: torch.Tensor) -> pd.DataFrame:
        return pd.concat([t.predict(p) for t, p in zip(self.tasks, self._split(logits), strict=True)], axis=1)

    def sample_weights(self, targets: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The mean of the labels' own sampling weights (each scaled to mean 1), so that the rare classes
        of every classification label with `imbalance="sampler"` are drawn more often."""
        per_task = [w / w.mean() for t in self.tasks
                    if (w := t.sample_weights(targets[t.column])) is not None]
        return torch.stack(per_task).mean(0) if per_task else None

    def state(self) -> dict:
        return {"kind": self.kind, "tasks": [t.state() for t in self.tasks], "weights": self.weights}

    @classmethod
    def from_state(cls, state: dict) -> MultiTask:
        from . import task_from_state

        return cls([task_from_state(s) for s in state["tasks"]], state["weights"])
