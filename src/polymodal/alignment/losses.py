"""Contrastive losses for aligning two modalities, with several positives per row allowed.

- `info_nce`: the symmetric contrastive loss of CLIP (Radford et al. 2021; InfoNCE, van den Oord
  et al. 2018) with a learnable temperature. Rows that share a key (the same caption on several
  rows) are *all* positives of each other, so duplicates are never pushed apart: the loss of a
  query is -log(sum over its positives / sum over all), as in multi-positive contrastive learning
  (Khosla et al. 2020).
- `sigmoid_loss`: the pairwise sigmoid loss of SigLIP (Zhai et al. 2023): every pair is an
  independent binary problem with a learnable scale and bias.

Each has a `_local` form for training on several ranks (training/distributed.py): the sum of the terms of
this rank's rows, scored against every rank's rows (open_clip's `local_loss`); the caller divides by the
whole batch's row count, so the ranks' parts add up to the loss of one process on the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def positive_mask(keys: torch.Tensor) -> torch.Tensor:
    """[B, B] True where two rows share a key (a row is always its own positive)."""
    return keys[:, None] == keys[None, :]


def _multi_positive_ce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Mean over rows of -log(sum_{j in P_i} e^{l_ij} / sum_j e^{l_ij})."""
    all_terms = torch.logsumexp(logits, dim=1)
    pos_terms = torch.logsumexp(logits.masked_fill(~positives, float("-inf")), dim=1)
    return (all_terms - pos_terms).mean()


def _row_terms(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Per row: -log(sum_{j in P_i} e^{l_ij} / sum_j e^{l_ij})."""
    return torch.logsumexp(logits, dim=1) - torch.logsumexp(logits.masked_fill(~positives, float("-inf")), dim=1)


def info_nce_local(za: torch.Tensor, zb: torch.Tensor, za_all: torch.Tensor, zb_all: torch.Tensor,
                   keys: torch.Tensor, keys_all: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """The summed InfoNCE terms of this rank's rows (`za`, `zb`, `keys`) in both directions, against the whole
    batch (`*_all`); divided by the batch's rows, the ranks' parts sum to `info_nce` on the batch."""
    scale = logit_scale.exp().clamp(max=100.0)
    positives = keys[:, None] == keys_all[None, :]
    return 0.5 * (_row_terms(scale * za @ zb_all.T, positives).sum()
                  + _row_terms(scale * zb @ za_all.T, positives).sum())


def sigmoid_loss_local(za: torch.Tensor, zb_all: torch.Tensor, keys: torch.Tensor, keys_all: torch.Tensor,
                       logit_scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The summed SigLIP terms of this rank's rows of `za` against every row of the batch's `zb_all`."""
    logits = logit_scale.exp() * za @ zb_all.T + bias
    signs = (keys[:, None] == keys_all[None, :]).float() * 2 - 1
    return -F.logsigmoid(signs * logits).sum()


def info_nce(za: torch.Tensor, zb: torch.Tensor, keys: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over L2-normalised embeddings `za`, `zb` [B, D] of the same rows."""
    logits = logit_scale.exp().clamp(max=100.0) * za @ zb.T
    positives = positive_mask(keys)
    return 0.5 * (_multi_positive_ce(logits, positives) + _multi_positive_ce(logits.T, positives.T))


def sigmoid_loss(za: torch.Tensor, zb: torch.Tensor, keys: torch.Tensor, logit_scale: torch.Tensor,
                 bias: torch.Tensor) -> torch.Tensor:
    """SigLIP: -mean log sigmoid(z_ij (t s_ij + b)), z_ij = +1 for positives, -1 otherwise."""
    logits = logit_scale.exp() * za @ zb.T + bias
    signs = positive_mask(keys).float() * 2 - 1
    return -F.logsigmoid(signs * logits).sum() / len(za)
