"""Early fusion: concatenate every modality's features and let an MLP mix them.

The baseline of the multimodal literature ("early fusion", e.g. Baltrušaitis,
Ahuja and Morency, *Multimodal Machine Learning: A Survey and Taxonomy*, IEEE
TPAMI 2019). Absent modalities are zeroed and the presence indicators are
concatenated too, so the MLP can tell "absent" from "present with small values".
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import Fusion, masked, register_fusion
from .norm_linear import folded_bias


@register_fusion("concat")
class ConcatFusion(Fusion):
    """LayerNorm each modality, zero the absent ones, concatenate with the presence bits, MLP."""

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__(in_dims, out_dim)
        # Per-modality LayerNorm: encoders emit features on very different scales, and a
        # row-wise norm keeps every row independent of the rest of the batch (no BatchNorm).
        self.norms = nn.ModuleList(nn.LayerNorm(self.in_dims[m]) for m in self.modalities)
        width = sum(self.in_dims.values()) + len(self.modalities)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        # Mask before the norm so NaN/inf in an absent row never enter it (they would reach the
        # LayerNorm's gradients). An absent row then leaves the norm as its bias: a constant.
        parts = [F.layer_norm(masked(feats[m], masks[m]), norm.normalized_shape, None, None, norm.eps)
                 for m, norm in zip(self.modalities, self.norms, strict=True)]
        present = torch.stack([masks[m] for m in self.modalities], dim=1).to(parts[0].dtype)
        # The norms' gains and shifts are folded into the first linear layer (norm_linear.py
        # says why): the same function, one fewer large matrix product per training step.
        first = self.mlp[0]
        gain = torch.cat([*(n.weight for n in self.norms), present.new_ones(len(self.modalities))])
        shift = torch.cat([*(n.bias for n in self.norms), present.new_zeros(len(self.modalities))])
        hidden = F.linear(torch.cat([*parts, present], dim=1), first.weight * gain,
                          folded_bias(first.bias, first.weight, shift))
        return self.mlp[1:](hidden)
