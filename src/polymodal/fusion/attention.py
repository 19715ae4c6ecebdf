"""Attention over modality vectors: one token per modality, a transformer encoder layer, attention pooling.

Self-attention (Vaswani et al., *Attention Is All You Need*, NeurIPS 2017) across
modality embeddings, the token-level fusion of, e.g., Nagrani et al., *Attention
Bottlenecks for Multimodal Fusion*, NeurIPS 2021, here with one token per
modality; the tokens are pooled by a learned query, a single-head version of the
pooling by multihead attention of Lee et al., *Set Transformer*, ICML 2019.

Absent modalities are removed from the keys and from the pooling with a mask; a
row with nothing present gets a learned "nothing present" vector.

Speed, measured on 2 CPU cores: the layer is written out (one fused q/k/v
projection and `scaled_dot_product_attention`) instead of `nn.TransformerEncoderLayer`
+ `nn.MultiheadAttention`, and dropout is applied once, to the pooled vector:
CPU dropout masks are slow to draw, and per-token dropout on three or four tokens
doubled the step time for no clear gain. The feed-forward block is as wide as the tokens.

`width` (default 64; 0: `hidden`): the width of the modality tokens and of the encoder layer; the
pooled vector is mapped to `out_dim` at the end. The layer's arithmetic grows with the square of
the width, and at 128 it was more than the feature projections themselves. Measured here
(BENCHMARKS.md, accuracy table, 40 epochs, seeds 0-2), width 64 vs 128: digits 0.976 ± 0.008 vs
0.978 ± 0.005, openmoji group 0.932 ± 0.001 vs 0.934 ± 0.005 (another draw of the initial weights
gave 0.977 and 0.942 at 64: the difference is within that noise), at about 1.7x the samples/s.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import PolymodalError
from .base import Fusion, masked, register_fusion
from .norm_linear import NormLinear


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor, heads: int) -> torch.Tensor:
    """Multi-head attention of q `[B, T, H]` over k, v `[B, S, H]`; keep `[B, S]` is True for usable keys.

    Every row of `keep` must have a True: a row with no usable key is NaN on some backends
    (the math path) and zeros on others, so callers decide explicitly what such rows mean."""
    b, t, h = q.shape

    def split(x: torch.Tensor) -> torch.Tensor:  # [B, T, H] -> [B, heads, T, H / heads]
        return x.view(b, x.shape[1], heads, h // heads).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=keep[:, None, None, :])
    return out.transpose(1, 2).reshape(b, t, h)


class EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer: self-attention then a feed-forward block, both residual."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_attn, self.norm_ff = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        # Feed-forward as wide as the tokens, not the usual 4x: on a CPU this layer is bound by
        # its matrix products, and a 2x block cost a quarter of the training throughput.
        self.ff = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm_attn(x)).chunk(3, dim=-1)
        x = x + self.proj(attend(q, k, v, keep, self.heads))
        return x + self.ff(self.norm_ff(x))


@register_fusion("attention")
class AttentionFusion(Fusion):
    """Modality tokens -> transformer encoder layer(s) -> learned-query attention pooling -> linear."""

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1,
                 heads: int = 4, layers: int = 1, width: int = 64) -> None:
        super().__init__(in_dims, out_dim)
        if isinstance(width, bool) or not isinstance(width, int) or width < 0:
            raise PolymodalError(f"attention fusion: width must be a whole number >= 0 (0: hidden), got {width!r}")
        hidden = width or hidden  # the tokens' width from here on
        if hidden % heads:
            raise PolymodalError(f"attention fusion: width {hidden} is not divisible by heads={heads}")
        # One projection per modality: its bias doubles as a modality-type embedding.
        self.proj = nn.ModuleList(
            NormLinear(self.in_dims[m], hidden) for m in self.modalities)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads) for _ in range(layers))
        self.norm_pool = nn.LayerNorm(hidden)
        self.query = nn.Parameter(torch.randn(hidden) * hidden**-0.5)
        self.empty = nn.Parameter(torch.zeros(hidden))  # the pooled vector of a row with nothing present
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    @classmethod
    def options_from_weights(cls, weights: dict[str, torch.Tensor], options: dict) -> dict:
        if "width" not in options and "query" in weights:  # runs saved before tokens had their own width
            return {**options, "width": int(weights["query"].shape[0])}
        return options

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        pairs = zip(self.modalities, self.proj, strict=True)
        tokens = torch.stack([p(masked(feats[m], masks[m])) for m, p in pairs], dim=1)  # [B, M, H]
        present = torch.stack([masks[m].bool() for m in self.modalities], dim=1)
        anything = present.any(1, keepdim=True)
        # Rows with nothing present attend over all (zero-input) tokens to stay finite; their
        # result is replaced by `empty` below, so what they compute never matters.
        keep = present | ~anything
        for layer in self.layers:
            tokens = layer(tokens, keep)
        scores = (self.norm_pool(tokens) @ self.query).masked_fill(~keep, float("-inf"))
        pooled = (scores.softmax(1).unsqueeze(-1) * tokens).sum(1)
        return self.out(torch.where(anything, pooled, self.empty))
