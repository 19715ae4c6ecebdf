"""Cross-modal (co-)attention over modality tokens, in the style of MulT.

Tsai, Bai, Liang, Kolter, Morency and Salakhutdinov, *Multimodal Transformer for
Unaligned Multimodal Language Sequences*, ACL 2019. In MulT each target modality's
sequence attends, as queries, to another modality's sequence (keys and values),
one crossmodal transformer per ordered pair. Here each target modality gets one
cross-attention block whose keys are the tokens of *all* the other modalities
(M blocks instead of M(M - 1)); the updated tokens are mean-pooled per modality
and the pooled vectors are concatenated with the presence bits and mapped out.

Inputs may be pooled `[B, D]` (turned into `n_tokens` learned tokens by a linear
map) or token sequences `[B, N, D]`. Absent modalities are removed from the keys
with a key padding mask. A row whose other modalities are all absent has no key
to attend to: it keeps its own tokens (the residual) and its attention output is
set to zero explicitly, because a softmax over only masked keys is NaN. Dropout
is applied once, before the output layer (attention.py says why).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import PolymodalError
from .attention import attend
from .base import Fusion, masked, register_fusion
from .norm_linear import NormLinear


class CrossBlock(nn.Module):
    """Pre-norm cross-attention + feed-forward, both residual."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(hidden), nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.q, self.kv, self.proj = nn.Linear(hidden, hidden), nn.Linear(hidden, 2 * hidden), nn.Linear(hidden, hidden)
        self.ff = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))  # as in attention.py

    def forward(self, x: torch.Tensor, context: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x `[B, N, H]` attends to context `[B, K, H]`; keep `[B, K]` is True where a key is present."""
        lonely = ~keep.any(1)  # rows with no key at all
        # Let those rows attend over every (zero-input) key so the softmax stays finite (a NaN
        # would reach the gradients through the discarded branch too), then drop the result.
        k, v = self.kv(self.norm_kv(context)).chunk(2, dim=-1)
        attended = self.proj(attend(self.q(self.norm_q(x)), k, v, keep | lonely[:, None], self.heads))
        x = x + attended.masked_fill(lonely[:, None, None], 0.0)
        return x + self.ff(self.norm_ff(x))


@register_fusion("cross_attention")
class CrossAttentionFusion(Fusion):
    """Each modality's tokens attend to the other modalities' tokens; pooled and concatenated."""

    uses_tokens = True

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1,
                 heads: int = 4, n_tokens: int = 4) -> None:
        super().__init__(in_dims, out_dim)
        if hidden % heads:
            raise PolymodalError(f"cross_attention fusion: hidden={hidden} is not divisible by heads={heads}")
        self.n_tokens = n_tokens
        self.proj = nn.ModuleList(
            NormLinear(self.in_dims[m], hidden) for m in self.modalities)
        # Used only for pooled [B, D] inputs: one vector -> n_tokens distinct tokens.
        self.expand = nn.ModuleList(nn.Linear(hidden, n_tokens * hidden) for _ in self.modalities)
        n = len(self.modalities)
        # A single modality has nobody to attend to: no blocks, so no parameter goes unused.
        self.blocks = nn.ModuleList(CrossBlock(hidden, heads) for _ in range(n if n > 1 else 0))
        self.out = nn.Sequential(nn.LayerNorm(n * hidden + n), nn.Dropout(dropout), nn.Linear(n * hidden + n, out_dim))

    def tokens(self, i: int, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Modality `i`'s input as `[B, N, hidden]` tokens."""
        x = self.proj[i](masked(x, mask))
        if x.dim() == 2:
            x = self.expand[i](x).view(x.shape[0], self.n_tokens, -1)
        return x

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        toks = [self.tokens(i, feats[m], masks[m]) for i, m in enumerate(self.modalities)]
        present = [masks[m].bool() for m in self.modalities]
        pooled = []
        for i, x in enumerate(toks):
            others = [j for j in range(len(toks)) if j != i]
            if others:
                context = torch.cat([toks[j] for j in others], dim=1)
                keep = torch.cat([present[j][:, None].expand(-1, toks[j].shape[1]) for j in others], dim=1)
                x = self.blocks[i](x, context, keep)
            pooled.append(masked(x.mean(1), present[i]))
        flags = torch.stack(present, dim=1).to(pooled[0].dtype)
        return self.out(torch.cat([*pooled, flags], dim=1))
