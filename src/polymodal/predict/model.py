"""The multimodal model: per-modality encoders -> fusion -> head.

Columns whose encoder is frozen arrive as cached features `[B, D]` and skip
their encoder; trainable encoders run inside the model. Modality dropout hides
present modalities at random during training so the model learns to cope with
missing ones.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..encoders.base import Encoder
from ..fusion.base import Fusion, modality_dropout


class MultimodalModel(nn.Module):
    def __init__(self, encoders: dict[str, Encoder], cached_dims: dict[str, int], fusion: Fusion,
                 out_dim: int, *, modality_dropout: float = 0.0, head_dropout: float = 0.1):
        super().__init__()
        # ModuleDict keys may not contain "." (a legal column name), so encoders sit under
        # positional keys; `self.trainable` keeps the column names in the same sorted order.
        self.trainable = sorted(encoders)
        self.encoders = nn.ModuleDict({f"m{i}": encoders[c] for i, c in enumerate(self.trainable)})
        self.cached_dims = dict(sorted(cached_dims.items()))
        self.fusion = fusion
        # optional: a denoiser in front of a cached column (predict/denoise.py), keyed by its place among them;
        # empty (no weights, so runs saved before it load unchanged) unless a fit asked for denoising
        self.denoisers = nn.ModuleDict()
        self.p_drop = modality_dropout
        if fusion.output_is_logits:
            self.head: nn.Module = nn.Identity()
        else:
            self.head = nn.Sequential(nn.LayerNorm(fusion.out_dim), nn.Dropout(head_dropout),
                                      nn.Linear(fusion.out_dim, out_dim))

    @property
    def modalities(self) -> list[str]:
        return sorted([*self.trainable, *self.cached_dims])

    def denoiser_key(self, column: str) -> str:
        return f"c{list(self.cached_dims).index(column)}"

    def set_denoiser(self, column: str, module: nn.Module) -> None:
        self.denoisers[self.denoiser_key(column)] = module

    def features(self, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        feats = {}
        for name in self.modalities:
            if name in self.cached_dims:
                key = self.denoiser_key(name)
                feats[name] = self.denoisers[key](inputs[name]) if key in self.denoisers else inputs[name]
            else:
                out = self.encoders[f"m{self.trainable.index(name)}"](inputs[name])
                use_tokens = self.fusion.uses_tokens and out.tokens is not None
                feats[name] = out.tokens if use_tokens else out.pooled
        return feats

    def forward(self, inputs: dict[str, Any], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        masks = {m: masks[m] for m in self.modalities}
        if self.training and self.p_drop > 0:
            masks = modality_dropout(masks, self.p_drop)
        return self.head(self.fusion(self.features(inputs), masks))
