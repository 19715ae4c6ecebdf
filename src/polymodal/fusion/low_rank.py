"""Low-rank tensor fusion: tensor fusion whose weight tensor is a sum of `rank` outer products.

Liu, Shen, Lakshminarasimhan, Liang, Zadeh and Morency, *Efficient Low-rank
Multimodal Fusion with Modality-Specific Factors*, ACL 2018. Tensor fusion
applies a weight W to the outer product of the [z_m, 1] vectors; writing W as
sum_r w_r * (outer product over m of W_m^(r)) lets the product be computed
without ever forming it:

    fused = sum_r w_r * prod_m ([z_m, 1] @ W_m^(r)) + b

which costs linear, not exponential, time in the number of modalities. An absent
modality's vector is [0, ..., 0, 1], so its factor reduces to the fixed row
W_m^(r)[-1] and nothing from its features leaks.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Fusion, masked, register_fusion
from .norm_linear import NormLinear


@register_fusion("low_rank")
class LowRankFusion(Fusion):
    """Per-modality subnetwork to `hidden`, append 1, `rank` modality-specific factors, product over modalities."""

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1,
                 rank: int = 4) -> None:
        super().__init__(in_dims, out_dim)
        self.rank, self.hidden = rank, hidden
        self.proj = nn.ModuleList(
            NormLinear(self.in_dims[m], hidden, nn.GELU())
            for m in self.modalities)
        self.factors = nn.ParameterList(nn.Parameter(torch.empty(hidden + 1, rank * hidden)) for _ in self.modalities)
        for f in self.factors:
            nn.init.xavier_normal_(f)
        self.rank_weights = nn.Parameter(torch.full((rank,), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    def fuse(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """The low-rank tensor product, `[B, hidden]`, before the output layer."""
        product = None
        for m, proj, factor in zip(self.modalities, self.proj, self.factors, strict=True):
            z = masked(proj(masked(feats[m], masks[m])), masks[m])
            z = torch.cat([z, z.new_ones(z.shape[0], 1)], dim=1)  # [z, 1]; absent -> [0, ..., 0, 1]
            part = (z @ factor).view(-1, self.rank, self.hidden)
            product = part if product is None else product * part
        return torch.einsum("r,brh->bh", self.rank_weights, product) + self.bias

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.out(self.fuse(feats, masks))
