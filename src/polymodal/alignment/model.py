"""The alignment model: one projection head per aligned column into a shared, L2-normalised space.

Cached (frozen pretrained) features arrive as `[B, D]`; trainable encoders run inside the model.
A *locked* column (LiT, Zhai et al. 2022: "Locked-image Tuning") keeps its pretrained features as
its embedding (no head), and the other columns learn to map into that space.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.base import Encoder


def projection(in_dim: int, out_dim: int, hidden: int, dropout: float) -> nn.Module:
    if hidden <= 0:
        return nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, out_dim))
    return nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out_dim))


class AlignmentModel(nn.Module):
    def __init__(self, in_dims: dict[str, int], encoders: dict[str, Encoder], *, dim: int = 256,
                 hidden: int = 512, dropout: float = 0.1, locked: list[str] | None = None,
                 temperature: float = 0.07, loss: str = "infonce"):
        super().__init__()
        self.columns = sorted(in_dims)
        self.locked = sorted(locked or [])
        self.dim = in_dims[self.locked[0]] if self.locked else dim
        self.trainable = sorted(encoders)
        self.encoders = nn.ModuleDict({f"m{i}": encoders[c] for i, c in enumerate(self.trainable)})
        self.heads = nn.ModuleDict({f"m{i}": nn.Identity() if c in self.locked else
                                    projection(in_dims[c], self.dim, hidden, dropout)
                                    for i, c in enumerate(self.columns)})
        init_scale = torch.log(torch.tensor(1 / temperature)) if loss == "infonce" else torch.log(torch.tensor(10.0))
        self.logit_scale = nn.Parameter(init_scale.clone())
        self.bias = nn.Parameter(torch.tensor(-10.0 if loss == "siglip" else 0.0), requires_grad=loss == "siglip")

    def embed(self, column: str, x: Any) -> torch.Tensor:
        if column in self.trainable:
            x = self.encoders[f"m{self.trainable.index(column)}"](x).pooled
        return F.normalize(self.heads[f"m{self.columns.index(column)}"](x.float()), dim=-1)

    def forward(self, inputs: dict[str, Any], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Embeddings of every column plus their presence masks, flattened into one dict of tensors
        (`emb:<col>`, `mask:<col>`) so the training loop can batch and concatenate them."""
        out = {}
        for column in self.columns:
            out[f"emb:{column}"] = self.embed(column, inputs[column])
            out[f"mask:{column}"] = masks[column]
        return out
