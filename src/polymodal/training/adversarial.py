"""Adversarial perturbations of a batch: FGSM (Goodfellow, Shlens and Szegedy 2015) and PGD (Madry et al.
2018), for robustness curves (`evaluate --attack`) and adversarial training (`fit --adversarial`).

They act on every floating-point input of the batch, or only on `columns`: cached features of frozen
encoders (feature space: the pretrained encoder is fixed, so that is what an attack on the model can move)
and the images or spectrograms that trainable encoders read (input space). Text and category codes are not
continuous and are left alone. The budget `epsilon` is relative: each column's perturbation is at most
epsilon times that column's standard deviation (over the batch's present cells) in every coordinate (an
L-infinity ball), so one epsilon means the same on 1280-d image features and on 20-d MFCC statistics.
Presence masks are not attacked.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import PolymodalError

ATTACKS = ("fgsm", "pgd")
PGD_STEPS = 7  # steps of size epsilon / 4 (Madry et al. take 7 steps of 2/255 within 8/255 on CIFAR-10)


def check_attack(kind: str, epsilon: float) -> None:
    if kind not in ATTACKS:
        raise PolymodalError(f"unknown attack {kind!r}; valid: {', '.join(ATTACKS)}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0 < epsilon <= 10:
        raise PolymodalError(f"epsilon must be a number in (0, 10] (a share of each column's standard deviation), "
                             f"got {epsilon!r}")


def attackable(inputs: dict[str, Any], columns: list[str] | None = None) -> list[str]:
    return [c for c, v in inputs.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
            and not c.startswith("@") and not c.endswith("@views") and (columns is None or c in columns)]


def perturb(model: torch.nn.Module, loss_fn, inputs: dict[str, Any], masks: dict[str, torch.Tensor], targets,
            *, kind: str, epsilon: float, columns: list[str] | None = None) -> dict[str, Any]:
    """`inputs` moved within the epsilon ball to raise `loss_fn(model(inputs, masks), targets)`."""
    names = attackable(inputs, columns)
    if not names:
        return inputs
    scale = {c: _scale(inputs[c], masks.get(c)) * epsilon for c in names}
    was_training = model.training
    model.eval()  # the attack reads the model as it predicts (no dropout, batch-norm statistics fixed)
    try:
        x = {c: inputs[c].detach().clone() for c in names}
        steps, step = (1, 1.0) if kind == "fgsm" else (PGD_STEPS, 0.25)
        for _ in range(steps):
            for c in names:
                x[c].requires_grad_(True)
            loss = loss_fn(model({**inputs, **x}, masks), targets)
            grads = torch.autograd.grad(loss, [x[c] for c in names], allow_unused=True)
            with torch.no_grad():
                for c, g in zip(names, grads, strict=True):
                    if g is not None:
                        moved = x[c] + step * scale[c] * g.sign()
                        x[c] = inputs[c] + (moved - inputs[c]).clamp(-scale[c], scale[c])
                    x[c] = x[c].detach()
    finally:
        model.train(was_training)
    return {**inputs, **x}


def _scale(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Each column's standard deviation over the present rows, per coordinate, as a broadcastable tensor."""
    rows = x[mask.bool()] if mask is not None and mask.any() and mask.shape[0] == x.shape[0] else x
    if len(rows) < 2:
        return torch.ones(1, dtype=x.dtype)
    std = rows.float().std(0, keepdim=True).clamp_min(1e-6).to(x.dtype)
    return std
