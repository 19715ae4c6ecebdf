"""The training loop of generative models: epochs of shuffled batches through the model's own
`train_step`, a progress bar with the running losses, a callback after every epoch (the
sample grids of the report), and a checkpoint after every epoch that `resume=True` continues
from. As in training/loop.py, each epoch's shuffling and noise derive from (seed, epoch) only,
so a resumed run ends exactly where an uninterrupted one would.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..training import distributed as dist
from ..training.checkpoint import load_checkpoint, save_checkpoint
from ..training.data import take
from ..training.layout import batch_layout, channels_last
from .base import Batch, Cond, GenerativeModel


@dataclass
class GenData:
    """Every training row in memory: targets in [-1, 1], the prompts' model inputs, prompt keys."""

    x: torch.Tensor
    cond: Cond
    keys: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, idx: torch.Tensor) -> Batch:
        return Batch(batch_layout(self.x[idx]), take(self.cond, idx), self.keys[idx])


@dataclass
class GenResult:
    history: list[dict] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    resumed_from: int | None = None


def _batches(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(n, generator=g)
    size = min(batch_size, n)
    # Whole batches only: batch norm and the discriminator's statistics dislike a ragged tail.
    return [order[i:i + size] for i in range(0, n - size + 1, size)]


def train_generative(model: GenerativeModel, data: GenData, *, epochs: int = 20, batch_size: int = 64,
                     lr: float = 2e-4, seed: int = 0, checkpoint_dir: Path | None = None, resume: bool = False,
                     progress: bool = True, on_epoch: Callable[[int, dict], None] | None = None,
                     desc: str = "generator") -> GenResult:
    """Train `model` in place for `epochs` epochs; returns the per-epoch mean losses.

    Under torchrun (training/distributed.py) each rank trains on its slice of every global batch and each of the
    model's optimisers sums the ranks' gradients, weighted by their shares, before it steps (`SyncedOptimizer`).
    Batch-norm statistics and the noise are per rank, so N ranks are not bit-equal to one process (as with DDP);
    rank 0's buffers (batch-norm statistics, the EMA generator) are broadcast after every epoch, so every rank
    holds the same model, and rank 0 writes the checkpoints."""
    w = dist.world()
    if w.active and min(batch_size, len(data)) < w.size:
        from ..errors import PolymodalError

        raise PolymodalError(f"{w.size} ranks need a batch of at least {w.size} rows (batch size {batch_size}, "
                             f"{len(data)} rows)")
    channels_last(model)  # faster convolutions on CPU (training/layout.py); saved contiguous as before
    optimizers = model.optimizers(lr)
    result, start = GenResult(), 0
    if resume and checkpoint_dir is not None:
        restored = load_checkpoint(checkpoint_dir, model, optimizers)
        if restored is not None:
            pointer = restored[0]
            start = pointer["epoch"] + 1
            result = GenResult(pointer["history"], pointer["steps"], pointer["seconds"], pointer["epoch"])
    dist.broadcast_module(model, w)  # every rank starts from rank 0's weights
    stepped = {k: dist.SyncedOptimizer(o, w) for k, o in optimizers.items()} if w.active else optimizers
    per_epoch = len(_batches(len(data), batch_size, seed, 0))
    began = time.time() - result.seconds
    bar = tqdm(total=epochs * per_epoch, initial=start * per_epoch, desc=desc, leave=False, dynamic_ncols=True,
               disable=not progress or not w.main or not sys.stderr.isatty())
    for epoch in range(start, epochs):
        torch.manual_seed(seed * 7919 + epoch + 1_000_003 * w.rank)  # this epoch's noise: (seed, epoch, rank)
        model.train()
        sums: dict[str, float] = {}
        for idx in _batches(len(data), batch_size, seed, epoch):
            local = dist.local_rows(idx, w)  # under torchrun: this rank's slice of the global batch
            for o in stepped.values():
                if w.active:
                    o.share = len(local) / len(idx)
            losses = model.train_step(data.batch(local), stepped, result.steps)
            result.steps += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items() if k in ("loss", "d_loss", "g_loss", "kl")})
        model.end_epoch(data.cond)
        dist.broadcast_module(model, w)  # rank 0's batch-norm statistics and EMA weights on every rank
        if w.active:  # the epoch's losses: the mean of the ranks' means
            keys = sorted(sums)
            total = dist.sum_across(torch.tensor([sums[k] for k in keys], dtype=torch.float64))
            sums = {k: float(v) / w.size for k, v in zip(keys, total, strict=True)}
        result.seconds = time.time() - began
        result.history.append({"epoch": epoch, **{k: v / max(1, per_epoch) for k, v in sums.items()},
                               "seconds": round(result.seconds, 2)})
        if on_epoch is not None:
            on_epoch(epoch, result.history[-1])
        if checkpoint_dir is not None and w.main:
            save_checkpoint(checkpoint_dir, epoch=epoch, model=model, optimizers=optimizers,
                            extra={"history": result.history, "steps": result.steps, "seconds": result.seconds})
    bar.close()
    dist.check_in_step(model, w)
    if not all(math.isfinite(v) for row in result.history[-1:] for v in row.values()):
        from ..errors import PolymodalError

        raise PolymodalError(f"{desc}: training diverged (a loss is not finite: {result.history[-1]}); "
                             "lower the learning rate")
    return result
