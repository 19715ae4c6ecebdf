"""The captioning "task" for the shared training loop: token cross-entropy under teacher forcing,
and smoothed BLEU-4 of greedy captions on validation as the early-stopping metric.

Smoothing (add one to the counts of orders 2-4, Lin & Och 2004) keeps the monitor moving while a
young model has no matching 4-gram yet; the reported metrics are plain BLEU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..metrics.text import bleu
from ..tasks.base import TaskOutput
from ..text.tokenizer import PAD_ID
from .search import strip


class CaptionTask:
    kind = "caption"
    monitor = "smoothed_bleu_4"
    out_dim = 0

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def sample_weights(self, targets) -> None:
        return None

    def step(self, out: dict[str, torch.Tensor], ids: torch.Tensor) -> TaskOutput:
        logits = out["logits"]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=PAD_ID,
                               label_smoothing=self.label_smoothing)
        return TaskOutput(loss, logits)

    def row_weights(self, ids: torch.Tensor) -> torch.Tensor:
        """Each caption's count of predicted tokens (`step` averages over tokens, not rows): a rank's share of
        a batch's loss under torchrun (training/loop.py)."""
        return (ids[:, 1:] != PAD_ID).sum(1).float()

    def monitor_value(self, out: dict[str, torch.Tensor], ids: torch.Tensor) -> float:
        hyps = [strip(row) for row in out["greedy"]]
        refs = [[strip(row)] for row in ids]
        return bleu(hyps, refs, smooth=True)["bleu_4"]
