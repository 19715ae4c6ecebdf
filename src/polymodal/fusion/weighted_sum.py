"""Weighted-sum fusion: a learned convex combination of per-modality projections.

Each modality is projected to a shared `hidden` space and the vectors are
averaged with learned modality weights, renormalised (softmax) over the
modalities present in each row, so a missing modality hands its share to the
others instead of pulling the sum towards zero. This is the "weighted"
combination of the fusion taxonomy in Baltrušaitis, Ahuja and Morency,
*Multimodal Machine Learning: A Survey and Taxonomy*, IEEE TPAMI 2019.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Fusion, masked, register_fusion
from .norm_linear import NormLinear


@register_fusion("weighted_sum")
class WeightedSumFusion(Fusion):
    """Project each modality to `hidden`, softmax-weight the present ones, sum, then a linear map."""

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__(in_dims, out_dim)
        self.proj = nn.ModuleList(
            NormLinear(self.in_dims[m], hidden, nn.GELU())
            for m in self.modalities)
        self.logits = nn.Parameter(torch.zeros(len(self.modalities)))  # equal weights at start
        self.empty = nn.Parameter(torch.zeros(hidden))  # the fused vector of a row with nothing present
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    def fuse(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum itself, `[B, hidden]`, before the output layer."""
        present = torch.stack([masks[m].bool() for m in self.modalities], dim=1)  # [B, M]
        pairs = zip(self.modalities, self.proj, strict=True)
        vecs = torch.stack([p(masked(feats[m], masks[m])) for m, p in pairs], dim=1)  # [B, M, H]
        weights = present_softmax(self.logits.expand(present.shape), present)
        fused = (weights.unsqueeze(-1) * vecs).sum(1)
        return torch.where(present.any(1, keepdim=True), fused, self.empty)

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.out(self.fuse(feats, masks))


def present_softmax(logits: torch.Tensor, present: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Softmax over the present entries only; absent entries get exactly 0.

    A row with nothing present gets all zeros, not NaN: a softmax over only -inf
    is NaN, and a NaN there poisons the gradients even when the row's output is
    replaced afterwards, so those rows are softmaxed over plain zeros instead."""
    any_present = present.any(dim, keepdim=True)
    logits = torch.where(present | ~any_present, logits, float("-inf"))
    return torch.softmax(logits, dim) * present
