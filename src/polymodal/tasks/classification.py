"""Single-label classification, with class-weighted loss, focal loss or a weighted sampler
for imbalanced classes (focal loss: Lin et al. 2017, "Focal Loss for Dense Object Detection")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..data.label_text import label_text
from ..errors import PolymodalError
from .base import Task, TaskOutput

IMBALANCE = ("none", "weighted", "focal", "sampler", "smote")  # smote: synthetic rows (predict/smote.py)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy scaled by (1 - p_true)^gamma, so easy examples count less."""
    logp = F.log_softmax(logits, dim=1)
    logp_true = logp.gather(1, target[:, None]).squeeze(1)
    loss = -((1 - logp_true.exp()) ** gamma) * logp_true
    if weight is not None:
        w = weight[target]
        return (loss * w).sum() / w.sum()
    return loss.mean()


class Classification(Task):
    kind = "classification"
    monitor = "balanced_accuracy"

    def __init__(self, column: str, *, imbalance: str = "none", gamma: float = 2.0,
                 label_smoothing: float = 0.0):
        super().__init__(column)
        if imbalance not in IMBALANCE:
            raise PolymodalError(f"unknown imbalance option {imbalance!r}; valid: {', '.join(IMBALANCE)}")
        self.imbalance, self.gamma, self.label_smoothing = imbalance, gamma, label_smoothing
        self.classes: list[str] = []
        self.class_weight: torch.Tensor | None = None

    @property
    def out_dim(self) -> int:
        return len(self.classes)

    def fit(self, values: pd.Series) -> Classification:
        present = values.dropna()
        present = present.map(label_text)
        self.classes = sorted(set(present), key=_natural)
        if len(self.classes) < 2:
            raise PolymodalError(f"label column {self.column!r} has only one class "
                                 f"({self.classes[0] if self.classes else 'none'}); a classifier needs two or more")
        counts = present.value_counts().reindex(self.classes).to_numpy(dtype=np.float64)
        # "balanced" weights as in scikit-learn: n / (k * count)
        self.class_weight = torch.tensor(counts.sum() / (len(counts) * counts), dtype=torch.float32)
        return self

    def encode(self, values: pd.Series) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.classes)}
        return torch.tensor([index.get(label_text(v), -1) if pd.notna(v) else -1 for v in values], dtype=torch.long)

    def step(self, logits: torch.Tensor, targets: torch.Tensor) -> TaskOutput:
        weight = self.class_weight if self.imbalance in ("weighted", "focal") else None
        if self.imbalance == "focal":
            loss = focal_loss(logits, targets, self.gamma, weight)
        else:
            loss = F.cross_entropy(logits, targets, weight=weight, label_smoothing=self.label_smoothing)
        return TaskOutput(loss, logits)

    def row_weights(self, targets: torch.Tensor) -> torch.Tensor:
        """How much each row counts in `step`'s mean (its class weight when the loss is weighted): a rank's share
        of a batch's loss under torchrun (training/loop.py)."""
        if self.imbalance in ("weighted", "focal"):
            return self.class_weight[targets]
        return torch.ones(len(targets))

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict:
        from ..metrics.classification import classification_metrics

        proba = torch.softmax(logits.float(), dim=1).numpy()
        return classification_metrics(targets.numpy(), proba, self.classes)

    def monitor_value(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        """Balanced accuracy: the mean over classes present of the per-class recall."""
        pred, true = logits.argmax(1), targets
        recalls = [(pred[true == c] == c).float().mean() for c in true.unique().tolist()]
        return float(torch.stack(recalls).mean()) if recalls else 0.0

    def predict(self, logits: torch.Tensor) -> pd.DataFrame:
        proba = torch.softmax(logits.float(), dim=1).numpy()
        out = pd.DataFrame({self.column: [self.classes[i] for i in proba.argmax(1)]})
        for j, c in enumerate(self.classes):
            out[f"proba_{self.column}_{c}"] = proba[:, j]
        return out

    def sample_weights(self, targets: torch.Tensor) -> torch.Tensor | None:
        if self.imbalance != "sampler":
            return None
        return self.class_weight[targets]

    def state(self) -> dict:
        return {"kind": self.kind, "column": self.column, "classes": self.classes, "imbalance": self.imbalance,
                "gamma": self.gamma, "label_smoothing": self.label_smoothing,
                "class_weight": self.class_weight.tolist() if self.class_weight is not None else None}

    @classmethod
    def from_state(cls, state: dict) -> Classification:
        task = cls(state["column"], imbalance=state["imbalance"], gamma=state["gamma"],
                   label_smoothing=state.get("label_smoothing", 0.0))
        task.classes = list(state["classes"])
        if state.get("class_weight") is not None:
            task.class_weight = torch.tensor(state["class_weight"], dtype=torch.float32)
        return task


def _natural(label: str):
    """Sort '2' before '10' when labels are numbers, otherwise alphabetically."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)
