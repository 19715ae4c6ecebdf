"""Ensembles of finished runs: average the class probabilities of several fitted predictors
(soft voting; Dietterich 2000, "Ensemble Methods in Machine Learning"). The runs may use
different fusions, encoders or even input columns, as long as they predict the same classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import PolymodalError
from ..tasks import Classification


class Ensemble:
    def __init__(self, members: list, weights: list[float] | None = None):
        from .predictor import Predictor

        self.members = [Predictor.load(m) if isinstance(m, str | Path) else m for m in members]
        if len(self.members) < 2:
            raise PolymodalError("an ensemble needs at least two runs")
        tasks = [m.task_ for m in self.members]
        if not all(isinstance(t, Classification) for t in tasks):
            raise PolymodalError("ensembles average class probabilities: every run must be a single-label classifier")
        if any(t.classes != tasks[0].classes or t.column != tasks[0].column for t in tasks):
            raise PolymodalError("the runs of an ensemble must predict the same label with the same classes")
        self.task_ = tasks[0]
        w = np.asarray(weights if weights is not None else [1.0] * len(self.members), dtype=np.float64)
        if len(w) != len(self.members) or (w < 0).any() or w.sum() == 0:
            raise PolymodalError("ensemble weights: one non-negative weight per run, not all zero")
        self.weights = w / w.sum()

    def _proba(self, data) -> np.ndarray:
        cols = [f"proba_{self.task_.column}_{c}" for c in self.task_.classes]
        return sum(w * m.predict_proba(data)[cols].to_numpy() for w, m in zip(self.weights, self.members,
                                                                              strict=True))

    def predict_proba(self, data) -> pd.DataFrame:
        proba = self._proba(data)
        return self.task_.predict(torch.from_numpy(np.log(np.clip(proba, 1e-12, None))))

    def predict(self, data) -> pd.Series:
        return self.predict_proba(data)[self.task_.column]

    def evaluate(self, data) -> dict:
        from ..data.table import read_table

        table = read_table(data)
        targets = self.task_.encode(table.df[self.task_.column])
        logits = torch.from_numpy(np.log(np.clip(self._proba(table), 1e-12, None))).float()
        return self.task_.metrics(logits, targets)
