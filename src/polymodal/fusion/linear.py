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

from .base import Fusion, register_fusion
from .standardise import fit_standard, register_standard, standardised


@register_fusion("linear")
class LinearFusion(Fusion):
    output_is_logits = True  # a linear model's output is already in task space: no head after it

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__(in_dims, out_dim)  # hidden/dropout: accepted for a uniform constructor, unused
        register_standard(self, [self.in_dims[m] for m in self.modalities])
        self.width = sum(self.in_dims.values()) + len(self.modalities)
        self.linear = nn.Linear(self.width, out_dim)

    def design(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """The design matrix `[B, width]` the linear layer reads (what scikit-learn is fitted on)."""
        parts = standardised(self, [feats[m] for m in self.modalities], [masks[m] for m in self.modalities])
        present = torch.stack([masks[m] for m in self.modalities], dim=1).to(parts[0].dtype)
        return torch.cat([*parts, present], dim=1)

    def standardise_on(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> None:
        """Set each modality's mean and scale from the rows where it is present (scale 1 where constant)."""
        fit_standard(self, [feats[m] for m in self.modalities], [masks[m] for m in self.modalities])

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(self.design(feats, masks))
