"""`WeightedEnsemble`: several fitted candidates as one model, their class probabilities averaged with
fixed weights (chosen by ensemble selection, predict/selection.py). It answers like a `MultimodalModel`
(`modalities`, `forward(inputs, masks) -> logits`), so predicting, evaluating, the robustness table and
serving treat it as any saved model; each member reads its own columns, and trainable encoders stay
inside their member. It is also the saved form of a k-fold bag (predict/bagging.py): K copies of one
candidate with equal weights.

`combine`: "proba" averages class probabilities and answers their log (single-label classification);
"mean" averages the members' raw outputs (regression, multi-label and multi-task heads, whose outputs are
not one softmax)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import PolymodalError

COMBINES = ("proba", "mean")


class WeightedEnsemble(nn.Module):
    def __init__(self, members: list[nn.Module], weights: list[float], combine: str = "proba"):
        super().__init__()
        if len(members) != len(weights) or not members:
            raise PolymodalError("an ensemble needs one weight per member, and at least one member")
        if combine not in COMBINES:
            raise PolymodalError(f"unknown ensemble combination {combine!r}; valid: {', '.join(COMBINES)}")
        self.members, self.combine = nn.ModuleList(members), combine
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))

    @property
    def modalities(self) -> list[str]:
        return sorted({m for member in self.members for m in member.modalities})

    def forward(self, inputs: dict[str, Any], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.combine == "mean":
            return sum(w * member(inputs, masks).float() for w, member in zip(self.weights, self.members, strict=True))
        proba = sum(w * torch.softmax(member(inputs, masks).float(), dim=1)
                    for w, member in zip(self.weights, self.members, strict=True))
        return torch.log(proba.clamp_min(1e-12))


ENSEMBLE_LIMIT = ("the saved model is an ensemble of several fitted models (ensemble selection, or a k-fold bag): it "
                  "has no single fused representation to embed. Refit with "
                  "ensemble=False (--no-ensemble) and without bag_folds (--bag-folds) for a single model.")


def check_single(model: nn.Module, what: str) -> None:
    """Refuse `what` (embedding rows) for an ensemble, with the way to get a single model."""
    if isinstance(model, WeightedEnsemble):
        raise PolymodalError(f"cannot {what}: {ENSEMBLE_LIMIT}")
