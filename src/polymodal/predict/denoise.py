"""Denoising pre-training (`Predictor(denoise=NOISE)`, `fit --denoise NOISE`): a denoising autoencoder in front of
each column with fixed features (Vincent et al. 2008), so the model reads cleaned features when its inputs are
noisy.

Each such column gets a `Denoiser`: the features standardised with the training rows' statistics, then a
bottleneck MLP (D -> `BOTTLENECK` -> D) whose output is added back (a residual correction, zero at the start, so an
untrained denoiser changes nothing). It is pre-trained before the neural candidates, on that round's training
rows only, to give back the clean features from copies corrupted with Gaussian noise of `NOISE` standard
deviations per feature; it stops when the reconstruction of the validation rows stops improving. Every neural
candidate that reads the column starts from it and fine-tunes it with the rest of the model.

The denoisers are part of the model (`MultimodalModel.denoisers`), so saving, loading (rebuilt from the weights'
own keys, `attach_from_weights`), serving and ONNX export carry them. The report gives, per column, how far the
noisy validation features are from the clean ones before and after the denoiser.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ..errors import PolymodalError
from ..training.best_state import BestState

BOTTLENECK = 64
EPOCHS, PATIENCE, BATCH, LR = 60, 5, 256, 2e-3
MAX_ROWS = 100_000  # rows a denoiser is pre-trained on (a streamed fit's training split can be larger)


class Denoiser(nn.Module):
    def __init__(self, dim: int, bottleneck: int = BOTTLENECK):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        width = min(bottleneck, dim)
        self.net = nn.Sequential(nn.Linear(dim, width), nn.GELU(), nn.Linear(width, dim))
        nn.init.zeros_(self.net[-1].weight)  # the identity at the start
        nn.init.zeros_(self.net[-1].bias)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(self.standardise(x)) * self.std


def check_denoise(noise: float) -> None:
    if not isinstance(noise, int | float) or isinstance(noise, bool) or not 0 <= noise <= 5 or math.isnan(noise):
        raise PolymodalError(f"denoise must be a noise level in standard deviations between 0 (off) and 5, got "
                             f"{noise!r}; 0.5 is a good start")


def denoised_columns(encoders: dict, columns: list[str]) -> list[str]:
    """The columns a denoiser can sit in front of: those with fixed (cached) features."""
    from ..encoders.materialize import is_cached

    return [c for c in columns if is_cached(encoders[c])]


def pretrain(train, val, columns: list[str], noise: float, *, seed: int = 0) -> tuple[dict[str, Denoiser], list]:
    """A pre-trained `Denoiser` per column of `columns` (fixed features), and per column its validation figures:
    the root mean square distance (in standard deviations) of the noisy features from the clean ones, before and
    after the denoiser."""
    from .streamed import bounded

    train, val = bounded(train, MAX_ROWS, seed), bounded(val, MAX_ROWS, seed)
    out, report = {}, []
    for column in columns:
        x = train.inputs[column].float()[train.masks[column]]
        v = val.inputs[column].float()[val.masks[column]] if len(val) else x[:0]
        if len(x) < 2:
            continue
        model = Denoiser(x.shape[1])
        model.mean.copy_(x.mean(0))
        model.std.copy_(x.std(0).clamp_min(1e-6))
        out[column] = _fit(model, x, v if len(v) else x, noise, seed)
        report.append({"column": column, "noise": noise, "rows": len(x), **_figures(out[column], v if len(v) else x,
                                                                                     noise, seed)})
    return out, report


def _corrupt(model: Denoiser, x: torch.Tensor, noise: float, g: torch.Generator) -> torch.Tensor:
    return x + noise * model.std * torch.randn(x.shape, generator=g)


def _loss(model: Denoiser, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    return ((model.standardise(model(noisy)) - model.standardise(clean)) ** 2).mean()


def _fit(model: Denoiser, x: torch.Tensor, v: torch.Tensor, noise: float, seed: int) -> Denoiser:
    g = torch.Generator().manual_seed(seed)
    fixed = _corrupt(model, v, noise, torch.Generator().manual_seed(seed + 1))  # the same corruption every epoch
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    best = BestState(model, patience=PATIENCE, tolerance=1e-6)
    for _ in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(BATCH):
            loss = _loss(model, _corrupt(model, x[idx], noise, g), x[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            held = float(_loss(model, fixed, v))
        if best.stop(held):
            break
    return best.restore().eval()


def _figures(model: Denoiser, v: torch.Tensor, noise: float, seed: int) -> dict:
    noisy = _corrupt(model, v, noise, torch.Generator().manual_seed(seed + 2))
    with torch.no_grad():
        before = float(((model.standardise(noisy) - model.standardise(v)) ** 2).mean().sqrt())
        after = float(((model.standardise(model(noisy)) - model.standardise(v)) ** 2).mean().sqrt())
    return {"rms_noisy": round(before, 4), "rms_denoised": round(after, 4)}


def attach(model: nn.Module, denoisers: dict[str, Denoiser]) -> nn.Module:
    """`model` (a `MultimodalModel`) with a copy of the denoiser of each of its fixed-feature columns."""
    for column in getattr(model, "cached_dims", {}):
        if column in denoisers:
            model.set_denoiser(column, copy.deepcopy(denoisers[column]))
    return model


def attach_from_weights(model: nn.Module, weights: dict[str, torch.Tensor], prefix: str = "") -> nn.Module:
    """Empty denoisers wherever saved `weights` have them (keys `...denoisers.<key>.net.0.weight`), so the weights
    load into `model`; an ensemble's members each by their own prefix."""
    members = getattr(model, "members", None)
    if members is not None:
        for i, member in enumerate(members):
            attach_from_weights(member, weights, f"{prefix}members.{i}.")
        return model
    if not hasattr(model, "set_denoiser"):
        return model
    for column in model.cached_dims:
        first = weights.get(f"{prefix}denoisers.{model.denoiser_key(column)}.net.0.weight")
        if first is not None:
            model.set_denoiser(column, Denoiser(first.shape[1], first.shape[0]))
    return model
