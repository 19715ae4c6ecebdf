"""Late (decision-level) fusion: one head per modality, predictions combined at the end.

Decision-level fusion as classified in Baltrušaitis, Ahuja and Morency,
*Multimodal Machine Learning: A Survey and Taxonomy*, IEEE TPAMI 2019 (and
Atrey et al., *Multimodal fusion for multimedia analysis: a survey*, Multimedia
Systems 2010). Each modality maps to the task space (`out_dim` logits) on its
own; the results are combined over the modalities present in each row:

- "average": the mean of the present heads' logits;
- "learned": a weighted mean, modality weights learned and softmaxed over the present ones;
- "vote": in eval mode, a majority vote of the present heads' argmaxes, ties broken by the
  average logits, returned as log-probabilities (the vote shares, smoothed by a small share
  of the averaged probabilities, which is also what breaks ties). A vote has no gradient,
  so in training mode "vote" behaves exactly like "average" and the heads still learn.

A row with nothing present gets learned "nothing present" logits (a class prior).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import PolymodalError
from .base import Fusion, masked, register_fusion
from .norm_linear import NormLinear
from .weighted_sum import present_softmax

COMBINES = ("average", "learned", "vote")
TIE_SHARE = 0.01  # weight of the averaged probabilities in "vote": < 1 vote, so it only breaks ties


@register_fusion("late")
class LateFusion(Fusion):
    """A small MLP head per modality to `out_dim` logits, combined over the present modalities."""

    output_is_logits = True

    def __init__(self, in_dims: dict[str, int], out_dim: int, *, hidden: int = 128, dropout: float = 0.1,
                 combine: str = "average") -> None:
        super().__init__(in_dims, out_dim)
        if combine not in COMBINES:
            raise PolymodalError(f"unknown late-fusion combine {combine!r}; valid: {', '.join(COMBINES)}")
        self.combine = combine
        self.heads = nn.ModuleList(
            NormLinear(self.in_dims[m], hidden, nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))
            for m in self.modalities)
        if combine == "learned":
            self.logits = nn.Parameter(torch.zeros(len(self.modalities)))
        self.empty = nn.Parameter(torch.zeros(out_dim))  # logits of a row with nothing present

    def head_logits(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """Every head's logits, `[B, M, out_dim]` (absent modalities' rows are meaningless)."""
        pairs = zip(self.modalities, self.heads, strict=True)
        return torch.stack([h(masked(feats[m], masks[m])) for m, h in pairs], dim=1)

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        present = torch.stack([masks[m].bool() for m in self.modalities], dim=1)  # [B, M]
        logits = self.head_logits(feats, masks)
        if self.combine == "learned":
            weights = present_softmax(self.logits.expand(present.shape), present)
        else:  # "average", and "vote" in training
            weights = present / present.sum(1, keepdim=True).clamp_min(1)
        # where, not a multiply: an absent head's logits must not reach the sum even as 0 * inf.
        mean = (weights.unsqueeze(-1) * torch.where(present.unsqueeze(-1), logits, 0.0)).sum(1)
        mean = torch.where(present.any(1, keepdim=True), mean, self.empty)
        if self.combine == "vote" and not self.training:
            return vote(logits, present, mean)
        return mean


def vote(logits: torch.Tensor, present: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Majority vote of the present heads as log-probabilities `[B, C]`, ties broken by `mean`.

    The shares are (votes + TIE_SHARE * softmax(mean)) / (n_present + TIE_SHARE): vote counts
    differ by whole numbers, so the small averaged part only decides among tied classes; a row
    with nothing present reduces to softmax(mean), i.e. the learned "nothing present" logits."""
    ballots = nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)  # [B, M, C]
    votes = (ballots * present.unsqueeze(-1)).sum(1)
    shares = (votes + TIE_SHARE * mean.softmax(-1)) / (present.sum(1, keepdim=True) + TIE_SHARE)
    return shares.clamp_min(1e-12).log()  # clamp: a softmax can underflow to 0, and log(0) = -inf
