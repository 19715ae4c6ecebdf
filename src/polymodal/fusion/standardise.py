"""Per-modality standardisation held in a module's buffers `mean{i}` / `scale{i}` (saved with its weights).

Shared by the linear probe (fusion/linear.py) and the nearest-neighbour candidate (predict/knn.py): both
read every modality's features on one scale, with an absent modality at its training mean (0 once
standardised). Positional buffer names, because a column name may hold ".".
"""

from __future__ import annotations

import torch
from torch import nn

from .base import masked


def register_standard(module: nn.Module, dims: list[int]) -> None:
    """Buffers for modality i of `dims`: mean 0 and scale 1 until `fit_standard` sets them."""
    for i, dim in enumerate(dims):
        module.register_buffer(f"mean{i}", torch.zeros(dim))
        module.register_buffer(f"scale{i}", torch.ones(dim))


def pooled(x: torch.Tensor) -> torch.Tensor:
    """Token features `[B, T, D]` are read as their mean `[B, D]`."""
    return x.mean(1) if x.dim() == 3 else x


def standardised(module: nn.Module, feats: list[torch.Tensor], masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each modality's features on its training scale, zero (its mean) where absent."""
    out = []
    for i, (x, mask) in enumerate(zip(feats, masks, strict=True)):
        standard = (masked(pooled(x), mask) - getattr(module, f"mean{i}")) / getattr(module, f"scale{i}")
        out.append(masked(standard, mask))
    return out


def fit_standard(module: nn.Module, feats: list[torch.Tensor], masks: list[torch.Tensor]) -> None:
    """Set each modality's mean and scale from the rows where it is present (scale 1 where constant)."""
    for i, (x, mask) in enumerate(zip(feats, masks, strict=True)):
        x = pooled(x)[mask.bool()].double()
        if len(x) == 0:
            continue
        std = x.std(0, unbiased=False) if len(x) > 1 else torch.zeros(x.shape[1], dtype=x.dtype)
        getattr(module, f"mean{i}").copy_(x.mean(0).float())
        getattr(module, f"scale{i}").copy_(torch.where(std > 1e-8, std, torch.ones_like(std)).float())
