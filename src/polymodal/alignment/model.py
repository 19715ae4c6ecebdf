"""The alignment model: one projection head per aligned column into a shared, L2-normalised space.

Cached (frozen pretrained) features arrive as `[B, D]`; trainable encoders run inside the model.
A *locked* column (LiT, Zhai et al. 2022: "Locked-image Tuning") keeps its pretrained features as
its embedding (no head), and the other columns learn to map into that space.

`residual=True` makes each head a linear map plus an MLP correction whose last layer starts at zero;
`start_at` copies a closed-form solution (CCA, see methods/) into the linear maps, so training begins
at that solution's embeddings (`Aligner(init="cca")`). Measured on digits and openmoji
(BENCHMARKS.md, retrieval), it did not beat random heads on validation, whether the linear map was
trained or kept fixed, so it is an option, not the default.
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


class ResidualHead(nn.Module):
    """`linear(x) + correction(x)`: a linear map that can start at a closed-form solution, and an MLP
    whose last layer is zero at first, so the head starts exactly at that linear map."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, dropout: float):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.correction = projection(in_dim, out_dim, hidden, dropout)
        nn.init.zeros_(self.correction[-1].weight)
        nn.init.zeros_(self.correction[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.correction(x)

    @torch.no_grad()
    def start_at(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """x @ weight + bias (`[in, k]`, `[k]`, k <= out_dim); dimensions beyond k start at zero."""
        k = weight.shape[1]
        self.linear.weight.zero_()
        self.linear.bias.zero_()
        self.linear.weight[:k] = weight.T.to(self.linear.weight.dtype)
        self.linear.bias[:k] = bias.to(self.linear.bias.dtype)


class AlignmentModel(nn.Module):
    def __init__(self, in_dims: dict[str, int], encoders: dict[str, Encoder], *, dim: int = 256,
                 hidden: int = 512, dropout: float = 0.1, locked: list[str] | None = None,
                 temperature: float = 0.07, loss: str = "infonce", residual: bool = False):
        super().__init__()
        self.columns = sorted(in_dims)
        self.locked = sorted(locked or [])
        self.dim = in_dims[self.locked[0]] if self.locked else dim
        self.trainable = sorted(encoders)
        self.encoders = nn.ModuleDict({f"m{i}": encoders[c] for i, c in enumerate(self.trainable)})
        self.residual = residual
        head = ResidualHead if residual else projection
        self.heads = nn.ModuleDict({f"m{i}": nn.Identity() if c in self.locked else
                                    head(in_dims[c], self.dim, hidden, dropout)
                                    for i, c in enumerate(self.columns)})
        init_scale = torch.log(torch.tensor(1 / temperature)) if loss == "infonce" else torch.log(torch.tensor(10.0))
        self.logit_scale = nn.Parameter(init_scale.clone())
        self.bias = nn.Parameter(torch.tensor(-10.0 if loss == "siglip" else 0.0), requires_grad=loss == "siglip")

    def start_at(self, maps: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Start each residual head's linear map at `maps[column]` = (weight `[in, k]`, bias `[k]`)."""
        for column, (weight, bias) in maps.items():
            self.heads[f"m{self.columns.index(column)}"].start_at(weight, bias)

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
