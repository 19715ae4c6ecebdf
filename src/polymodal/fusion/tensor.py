"""Tensor fusion: the outer product of per-modality vectors, each extended by a constant 1.

Zadeh, Chen, Poria, Cambria and Morency, *Tensor Fusion Network for Multimodal
Sentiment Analysis*, EMNLP 2017. Appending 1 to every modality vector before the
outer product keeps the unimodal and all lower-order interaction terms alongside
the full M-way ones. The fused size is prod(rank_dim + 1) over the modalities
(729 for three modalities at the default rank_dim = 8), so it grows exponentially
with the number of modalities; prefer "low_rank" beyond four or five.

An absent modality contributes [0, ..., 0, 1]: only its constant survives, so the
product keeps exactly the terms that do not involve it and nothing can leak.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import PolymodalError
from .base import Fusion, masked, register_fusion
from .norm_linear import NormLinear

MAX_FUSED = 1 << 20  # fused sizes above this would not fit a batch in memory (8 modalities at rank 8: 43M)


@register_fusion("tensor")
class TensorFusion(Fusion):
    """Project each modality to `rank_dim`, append 1, outer product across modalities, flatten, MLP."""

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1,
                 rank_dim: int = 8) -> None:
        super().__init__(in_dims, out_dim)
        fused = (rank_dim + 1) ** len(self.modalities)
        if fused > MAX_FUSED:
            raise PolymodalError(f"tensor fusion of {len(self.modalities)} modalities at rank_dim {rank_dim} has a "
                                 f"fused size of {rank_dim + 1}^{len(self.modalities)} = {fused:.3g}, above "
                                 f"{MAX_FUSED:,}; use low_rank, fewer modalities (numbers and categories as one "
                                 "`tabular` group: --tabular group), or a smaller rank_dim")
        # tanh keeps each factor in [-1, 1], so products of M of them cannot blow up.
        self.proj = nn.ModuleList(
            NormLinear(self.in_dims[m], rank_dim, nn.Tanh())
            for m in self.modalities)
        self.fused_dim = math.prod(rank_dim + 1 for _ in self.modalities)
        self.mlp = nn.Sequential(nn.LayerNorm(self.fused_dim), nn.Linear(self.fused_dim, hidden), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    def outer(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """The flattened outer product, `[B, prod(rank_dim + 1)]`."""
        fused = None
        for m, proj in zip(self.modalities, self.proj, strict=True):
            z = masked(proj(masked(feats[m], masks[m])), masks[m])
            z = torch.cat([z, z.new_ones(z.shape[0], 1)], dim=1)  # [z, 1]; absent -> [0, ..., 0, 1]
            fused = z if fused is None else (fused.unsqueeze(2) * z.unsqueeze(1)).flatten(1)
        return fused

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.mlp(self.outer(feats, masks))
