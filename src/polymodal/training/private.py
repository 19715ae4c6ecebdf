"""Differential privacy for the trainable part of a model: DP-SGD (Abadi et al. 2016) through Opacus.

Each step draws its batch by Poisson sampling (every training row joins with probability q = batch size / rows, what
the accounting assumes), computes one gradient per row (Opacus's `GradSampleModule`: its own rules for the common
layers, torch.func for the rest), clips each to `max_grad_norm`, sums them, adds Gaussian noise of standard deviation
`noise_multiplier * max_grad_norm` and steps AdamW with the result (Opacus's `DPOptimizer`). The noise multiplier is
the smallest that keeps the planned steps within the target (epsilon, delta), by Opacus's Renyi-DP accountant; the
epsilon actually spent is read from the same accountant after training (less than the target when early stopping
ends it sooner).

What is private: the weights the optimizer trains, on the training rows. Not covered, and said in the report: the
validation rows that stop training and choose the epoch, and any statistic an encoder prepares from the training rows
before training (the standardisation of numbers, a trained tokenizer's vocabulary); pretrained frozen encoders read
nothing from them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from ..errors import PolymodalError

# Renyi orders the accountant tries: Opacus's defaults (up to 63) plus higher ones, which a small budget needs: with
# orders up to 63 no epsilon under log(1 / delta) / 62 (0.19 at delta 1e-5) can be certified, however much noise; up to
# 512, 0.023. (Each order costs time in the search for the noise: these take 1.4 s against Opacus's 1.0 s.)
ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + list(range(64, 257, 16)) + [320, 384, 512]


@dataclass
class Privacy:
    epsilon: float  # the target budget
    delta: float
    max_grad_norm: float = 1.0
    noise_multiplier: float = 0.0  # chosen when training starts
    sample_rate: float = 0.0
    steps: int = 0  # taken so far
    spent: float = 0.0  # epsilon spent by those steps

    def figures(self) -> dict:
        return {"epsilon_target": self.epsilon, "epsilon_spent": round(self.spent, 4), "delta": self.delta,
                "noise_multiplier": round(self.noise_multiplier, 4), "max_grad_norm": self.max_grad_norm,
                "sample_rate": round(self.sample_rate, 6), "steps": self.steps}


def check_privacy(epsilon: float | None, delta: float, max_grad_norm: float) -> None:
    if epsilon is None:
        return
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0 < epsilon < math.inf:
        raise PolymodalError(f"dp_epsilon (--dp-epsilon) must be a positive number (1 to 10 are common), not "
                             f"{epsilon!r}")
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
        raise PolymodalError(f"dp_delta (--dp-delta) must be between 0 and 1, far below 1 / rows (1e-5 is common), "
                             f"not {delta!r}")
    if isinstance(max_grad_norm, bool) or not isinstance(max_grad_norm, int | float) or not max_grad_norm > 0:
        raise PolymodalError(f"dp_clip (--dp-clip) is the bound on each row's gradient norm, a positive number, not "
                             f"{max_grad_norm!r}")
    try:
        import opacus  # noqa: F401
    except ImportError as exc:
        raise PolymodalError("differential privacy needs Opacus: pip install opacus") from exc


class PrivateTrainer:
    """Opacus's per-row gradients, clipping, noise and accountant around one model and its AdamW."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, privacy: Privacy, *, rows: int,
                 batch_size: int, steps: int, seed: int):
        from opacus import GradSampleModule
        from opacus.accountants import RDPAccountant
        from opacus.accountants.utils import get_noise_multiplier
        from opacus.optimizers import DPOptimizer
        from opacus.validators import ModuleValidator

        problems = ModuleValidator.validate(model, strict=False)
        if problems:
            raise PolymodalError("differential privacy needs a gradient per row, and this model has layers that mix "
                                 "the rows of a batch or that Opacus cannot split: "
                                 + "; ".join(str(p) for p in problems[:3]))
        if rows < 2 * batch_size:
            raise PolymodalError(f"differential privacy samples batches of about {batch_size} from {rows} training "
                                 "rows; it needs at least twice as many rows as the batch size (lower --batch-size)")
        self.privacy = privacy
        privacy.sample_rate = batch_size / rows
        if privacy.noise_multiplier <= 0:
            try:
                privacy.noise_multiplier = get_noise_multiplier(
                    target_epsilon=privacy.epsilon, target_delta=privacy.delta, sample_rate=privacy.sample_rate,
                    steps=max(1, steps), accountant="rdp", alphas=ALPHAS)
            except ValueError as exc:  # Opacus: no noise it tries (up to a multiplier of 1e6) reaches the budget
                raise PolymodalError(f"no amount of noise keeps {steps} steps at sampling rate "
                                     f"{privacy.sample_rate:.3g} within epsilon {privacy.epsilon:g}, delta "
                                     f"{privacy.delta:g} ({exc}); raise --dp-epsilon or --dp-delta") from None
        # Opacus's hooks on a model whose inputs are fixed features (no gradient wanted) make torch warn, on every
        # backward, that a full backward hook fires on module outputs only: what per-row gradients need here
        warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed")
        self.module = GradSampleModule(model)
        self.optimizer = DPOptimizer(optimizer, noise_multiplier=privacy.noise_multiplier,
                                     max_grad_norm=privacy.max_grad_norm, expected_batch_size=batch_size,
                                     generator=torch.Generator().manual_seed(seed * 7_368_787 + 1))
        self.accountant, self.rows = RDPAccountant(), rows

    def resume(self, steps: int) -> None:
        self.privacy.steps = int(steps)
        self.accountant.history = [(self.privacy.noise_multiplier, self.privacy.sample_rate, self.privacy.steps)]

    def batches(self, steps: int, generator: torch.Generator) -> list[torch.Tensor]:
        """Poisson sampling: each row joins each step's batch with probability q, independently."""
        return [torch.nonzero(torch.rand(self.rows, generator=generator) < self.privacy.sample_rate).flatten()
                for _ in range(steps)]

    def before_step(self, rows: int) -> None:
        """A zero gradient per row for each trainable weight this batch's forward did not reach (a modality absent
        from every row of it): the optimizer clips and noises every weight alike."""
        for param in self.module.parameters():
            if param.requires_grad and getattr(param, "grad_sample", None) is None:
                param.grad_sample = torch.zeros((rows, *param.shape), dtype=param.dtype, device=param.device)

    def stepped(self) -> None:
        self.accountant.step(noise_multiplier=self.privacy.noise_multiplier, sample_rate=self.privacy.sample_rate)
        self.privacy.steps += 1

    def close(self) -> None:
        self.privacy.spent = float(self.accountant.get_epsilon(self.privacy.delta, alphas=ALPHAS)) \
            if self.privacy.steps else 0.0
        self.module._close()
