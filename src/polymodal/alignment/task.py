"""The alignment "task" for the shared training loop: loss over every pair of aligned columns,
and mean Recall@1 (both directions, every pair) on validation as the early-stopping metric."""

from __future__ import annotations

from itertools import combinations

import torch

from ..tasks.base import TaskOutput
from .losses import info_nce, info_nce_local, positive_mask, sigmoid_loss, sigmoid_loss_local


class AlignmentTask:
    kind = "alignment"
    monitor = "mean_recall@1"
    out_dim = 0

    def __init__(self, columns: list[str], model, loss: str = "infonce"):
        self.columns, self.model, self.loss = sorted(columns), model, loss
        self.pairs = list(combinations(self.columns, 2))

    def sample_weights(self, targets) -> None:
        return None

    def _pair_loss(self, out: dict, a: str, b: str, keys: torch.Tensor) -> torch.Tensor | None:
        both = out[f"mask:{a}"] & out[f"mask:{b}"]
        if int(both.sum()) < 2:
            return None
        za, zb, k = out[f"emb:{a}"][both], out[f"emb:{b}"][both], keys[both]
        if self.loss == "siglip":
            return sigmoid_loss(za, zb, k, self.model.logit_scale, self.model.bias)
        return info_nce(za, zb, k, self.model.logit_scale)

    def step(self, out: dict, keys: torch.Tensor) -> TaskOutput:
        losses = [x for a, b in self.pairs if (x := self._pair_loss(out, a, b, keys)) is not None]
        loss = torch.stack(losses).mean() if losses else out[f"emb:{self.columns[0]}"].sum() * 0.0
        return TaskOutput(loss, out[f"emb:{self.columns[0]}"])

    def step_shard(self, out: dict, keys: torch.Tensor, sizes: list[int], w) -> TaskOutput:
        """Under torchrun: this rank's part of the batch's loss, its rows against every rank's (embeddings
        gathered with gradient, training/distributed.py). The ranks' parts sum to `step` on the whole batch."""
        from ..training.distributed import gather

        keys_all = gather(keys, sizes, w, grad=False)
        losses = []
        for a, b in self.pairs:
            both = out[f"mask:{a}"] & out[f"mask:{b}"]
            both_all = gather(both, sizes, w, grad=False)
            n = int(both_all.sum())
            if n < 2:  # the same on every rank: the masks were gathered
                continue
            za, zb = out[f"emb:{a}"], out[f"emb:{b}"]
            za_all, zb_all = gather(za, sizes, w)[both_all], gather(zb, sizes, w)[both_all]
            za, zb, k, k_all = za[both], zb[both], keys[both], keys_all[both_all]
            if self.loss == "siglip":
                part = sigmoid_loss_local(za, zb_all, k, k_all, self.model.logit_scale, self.model.bias)
            else:
                part = info_nce_local(za, zb, za_all, zb_all, k, k_all, self.model.logit_scale)
            losses.append(part / n)
        first = out[f"emb:{self.columns[0]}"]
        loss = torch.stack(losses).sum() / max(len(losses), 1) if losses else first.sum() * 0.0
        return TaskOutput(loss, first)

    def monitor_value(self, out: dict, keys: torch.Tensor) -> float:
        recalls = []
        for a, b in self.pairs:
            both = out[f"mask:{a}"] & out[f"mask:{b}"]
            sim = out[f"emb:{a}"][both] @ out[f"emb:{b}"][both].T
            positives = positive_mask(keys[both])
            recalls.append(float(positives.gather(1, sim.argmax(1, keepdim=True)).float().mean()))
            recalls.append(float(positives.T.gather(1, sim.T.argmax(1, keepdim=True)).float().mean()))
        return sum(recalls) / max(len(recalls), 1)
