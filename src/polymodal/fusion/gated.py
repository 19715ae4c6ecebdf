"""Gated fusion: the Gated Multimodal Unit, generalised from two modalities to M.

Arevalo, Solorio, Montes-y-Gómez and González, *Gated Multimodal Units for
Information Fusion*, ICLR workshop 2017 (arXiv:1702.01992). The GMU computes
h_i = tanh(W_i x_i) per modality and mixes them with gates z computed from all
modalities: h = z * h_1 + (1 - z) * h_2. Here the gates are a softmax over the
modalities, per hidden unit, taken over the *present* modalities only; with two
modalities softmax(a, b) = (sigmoid(a - b), 1 - sigmoid(a - b)), which is the
GMU exactly. Departure from the paper: the gates read the pre-activation
projections W_i x_i (plus the presence bits) rather than the raw features, which
costs M * hidden inputs instead of sum(D_i) and keeps the unit fast on a CPU.

`gate_rank` (default 64; 0: the full map): the gate's `[M*hidden + M] -> [M*hidden]` map is
factored through `gate_rank` units (two linear layers, no non-linearity between them: a
rank-limited version of the same map). With three modalities and hidden 128 the full map is
as much arithmetic as the three projections of EfficientNet, MiniLM and MFCC features together.
Measured here (BENCHMARKS.md, accuracy table, 40 epochs, seeds 0-2): rank 64 vs the full map,
digits 0.976 ± 0.001 vs 0.963 ± 0.005, openmoji group 0.937 ± 0.006 vs 0.937 ± 0.008, with
about a third more training samples per second.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import PolymodalError
from .base import Fusion, masked, register_fusion
from .norm_linear import NormLinear
from .weighted_sum import present_softmax


@register_fusion("gated")
class GatedFusion(Fusion):
    """tanh projections per modality, mixed by per-unit softmax gates over the present modalities."""

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1,
                 gate_rank: int = 64) -> None:
        super().__init__(in_dims, out_dim)
        n = len(self.modalities)
        if isinstance(gate_rank, bool) or not isinstance(gate_rank, int) or gate_rank < 0:
            raise PolymodalError(f"gated fusion: gate_rank must be a whole number >= 0 (0: the full gate), "
                                 f"got {gate_rank!r}")
        self.proj = nn.ModuleList(
            NormLinear(self.in_dims[m], hidden) for m in self.modalities)
        self.gate = (nn.Linear(n * hidden + n, n * hidden) if gate_rank == 0 else
                     nn.Sequential(nn.Linear(n * hidden + n, gate_rank, bias=False), nn.Linear(gate_rank, n * hidden)))
        self.empty = nn.Parameter(torch.zeros(hidden))  # the fused vector of a row with nothing present
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    @classmethod
    def options_from_weights(cls, weights: dict[str, torch.Tensor], options: dict) -> dict:
        if "gate_rank" not in options and "gate.weight" in weights:  # saved before the gate was factored
            return {**options, "gate_rank": 0}
        return options

    def fuse(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """The gated mixture, `[B, hidden]`, before the output layer."""
        present = torch.stack([masks[m].bool() for m in self.modalities], dim=1)  # [B, M]
        # masked() again after the projection: an absent modality's projection is its bias,
        # which the gates must not see as if it were a signal.
        pre = torch.stack([masked(p(masked(feats[m], masks[m])), masks[m])
                           for m, p in zip(self.modalities, self.proj, strict=True)], dim=1)  # [B, M, H]
        gate_in = torch.cat([pre.flatten(1), present.to(pre.dtype)], dim=1)
        gates = present_softmax(self.gate(gate_in).view_as(pre), present.unsqueeze(-1))
        fused = (gates * torch.tanh(pre)).sum(1)
        return torch.where(present.any(1, keepdim=True), fused, self.empty)

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.out(self.fuse(feats, masks))
