"""The alignment "task" for the shared training loop: loss over every pair of aligned columns,
and mean Recall@1 (both directions, every pair) on validation as the early-stopping metric."""

from __future__ import annotations

from itertools import combinations

import torch

from ..tasks.base import TaskOutput
from .losses import info_nce, positive_mask, sigmoid_loss


class AlignmentTask:
    kind = "alignment"
    monitor = "mean_recall@1"
    out_dim = 0

    def __init__(self, columns: list[str], model, loss: str = "infonce"):
        self.columns, self.model, self.loss = sorted(columns), model, loss
        self.pairs = list(combinations(self.columns, 2))

    def sample_weights(self, targets) -> None:
        return None

    def _pair_loss(self, out: dict, a: str, b: str, keys: torch.Tensor) -> torch.Tensor | None:
        both = out[f"mask:{a}"] & out[f"mask:{b}"]
        if int(both.sum()) < 2:
            return None
        za, zb, k = out[f"emb:{a}"][both], out[f"emb:{b}"][both], keys[both]
        if self.loss == "siglip":
            return sigmoid_loss(za, zb, k, self.model.logit_scale, self.model.bias)
        return info_nce(za, zb, k, self.model.logit_scale)

    def step(self, out: dict, keys: torch.Tensor) -> TaskOutput:
        losses = [x for a, b in self.pairs if (x := self._pair_loss(out, a, b, keys)) is not None]
        loss = torch.stack(losses).mean() if losses else out[f"emb:{self.columns[0]}"].sum() * 0.0
        return TaskOutput(loss, out[f"emb:{self.columns[0]}"])

    def monitor_value(self, out: dict, keys: torch.Tensor) -> float:
        recalls = []
        for a, b in self.pairs:
            both = out[f"mask:{a}"] & out[f"mask:{b}"]
            sim = out[f"emb:{a}"][both] @ out[f"emb:{b}"][both].T
            positives = positive_mask(keys[both])
            recalls.append(float(positives.gather(1, sim.argmax(1, keepdim=True)).float().mean()))
            recalls.append(float(positives.T.gather(1, sim.T.argmax(1, keepdim=True)).float().mean()))
        return sum(recalls) / max(len(recalls), 1)
