"""A linear model over every modality's standardised features: the linear probe as a fusion.

Each modality's features are standardised with its training mean and scale (buffers, saved with the
weights), absent modalities are zeroed (their mean, after standardising: mean imputation) and the
presence bits are appended; one linear layer maps that to the task's outputs. It is the model a user
would fit with scikit-learn on the concatenated, standardised features, held as a torch module so that
saving, loading, the robustness table and ONNX export treat it like any other fusion.

The predictor fits it in closed form (predict/probe.py: scikit-learn's logistic or ridge regression, its
regularisation chosen on validation, the coefficients copied in). `--fusion linear` trains the same
module by gradient descent instead, with its statistics left at mean 0 and scale 1.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Fusion, masked, register_fusion


@register_fusion("linear")
class LinearFusion(Fusion):
    output_is_logits = True  # a linear model's output is already in task space: no head after it

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__(in_dims, out_dim)  # hidden/dropout: accepted for a uniform constructor, unused
        for i, m in enumerate(self.modalities):  # positional names: a column name may hold "."
            self.register_buffer(f"mean{i}", torch.zeros(self.in_dims[m]))
            self.register_buffer(f"scale{i}", torch.ones(self.in_dims[m]))
        self.width = sum(self.in_dims.values()) + len(self.modalities)
        self.linear = nn.Linear(self.width, out_dim)

    def design(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """The design matrix `[B, width]` the linear layer reads (what scikit-learn is fitted on)."""
        parts = []
        for i, m in enumerate(self.modalities):
            x = feats[m].mean(1) if feats[m].dim() == 3 else feats[m]
            standard = (masked(x, masks[m]) - getattr(self, f"mean{i}")) / getattr(self, f"scale{i}")
            parts.append(masked(standard, masks[m]))
        present = torch.stack([masks[m] for m in self.modalities], dim=1).to(parts[0].dtype)
        return torch.cat([*parts, present], dim=1)

    def standardise_on(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> None:
        """Set each modality's mean and scale from the rows where it is present (scale 1 where constant)."""
        for i, m in enumerate(self.modalities):
            x = (feats[m].mean(1) if feats[m].dim() == 3 else feats[m])[masks[m].bool()].double()
            if len(x) == 0:
                continue
            std = x.std(0, unbiased=False) if len(x) > 1 else torch.zeros(x.shape[1], dtype=x.dtype)
            getattr(self, f"mean{i}").copy_(x.mean(0).float())
            getattr(self, f"scale{i}").copy_(torch.where(std > 1e-8, std, torch.ones_like(std)).float())

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(self.design(feats, masks))
