"""Tabular encoders: "numeric" (standardise, then a small MLP) and "categorical" (a learned embedding).

Both learn from the training column in `prepare(values)` (mean and standard
deviation; the vocabulary) and return it from `config()`, so a rebuilt encoder
scales and indexes exactly like the trained one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..data.dataset import CategoryLoader, NumberLoader
from ..errors import PolymodalError
from .base import EncoderOutput, register_encoder
from .scratch_image import ScratchEncoder

Z_LIMIT = 1e4  # standard deviations from the training mean: a numeric input is clipped there


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


class NumericMLP(ScratchEncoder):
    """x -> (x - mean) / std -> Linear -> ReLU -> Linear. NaN inputs become the mean (0 after scaling)."""

    name, roles, version = "numeric", ("numeric",), "1"

    def __init__(self, mean: float | None = None, std: float | None = None, hidden: int = 32,
                 out_dim: int = 16) -> None:
        super().__init__()
        if (mean is None) != (std is None) or (std is not None and not std > 0):
            raise PolymodalError(f"numeric: give both mean and a positive std, or neither (got {mean}, {std})")
        self.hidden, self.out_dim = hidden, out_dim
        self.stats: tuple[float, float] | None = None
        self.register_buffer("mean", torch.tensor(0.0))
        self.register_buffer("std", torch.tensor(1.0))
        if mean is not None:
            self._set_stats(float(mean), float(std))
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def _set_stats(self, mean: float, std: float) -> None:
        self.stats = (mean, std)
        self.mean.fill_(mean)
        self.std.fill_(std)

    def loader(self) -> NumberLoader:
        return NumberLoader()

    def prepare(self, values: Sequence[Any]) -> None:
        """Mean and std of the finite training values; missing ones (None, NaN, "") are ignored.

        Statistics already there (given, or rebuilt from config) are kept.
        """
        if self.stats is not None:
            return
        numbers = []
        for i, value in enumerate(values):
            if _is_missing(value):
                continue
            try:
                numbers.append(float(value))
            except (TypeError, ValueError) as exc:
                raise PolymodalError(f"numeric: row {i}: {value!r} is not a number") from exc
        x = torch.tensor([v for v in numbers if math.isfinite(v)], dtype=torch.float64)
        mean = float(x.mean()) if len(x) else 0.0
        std = float(x.std(unbiased=False)) if len(x) > 1 else 0.0
        self._set_stats(mean, std if std > 0 else 1.0)  # a constant column keeps its scale

    def config(self) -> dict:
        mean, std = self.stats if self.stats is not None else (None, None)
        return {"mean": mean, "std": std, "hidden": self.hidden, "out_dim": self.out_dim}

    def last_blocks(self) -> nn.Module:
        return self.mlp[-1]

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        if self.stats is None:
            raise PolymodalError("numeric: call prepare(values) with the training column before encoding")
        z = torch.nan_to_num((x.reshape(-1, 1).to(self.mean.dtype) - self.mean) / self.std, nan=0.0)
        # A value far outside the training range (1e226, or one that overflows float32 to inf) would overflow the
        # MLP into inf/NaN predictions: beyond Z_LIMIT standard deviations every value counts as Z_LIMIT.
        return EncoderOutput(self.mlp(z.clamp(-Z_LIMIT, Z_LIMIT)))


class CategoryEmbedding(ScratchEncoder):
    """Category string -> embedding row. Row 0 is the unknown bucket: unseen, rare or empty values."""

    name, roles, version = "categorical", ("categorical",), "1"

    def __init__(self, vocabulary: list[str] | None = None, min_count: int = 1, out_dim: int = 16) -> None:
        super().__init__()
        self.vocabulary = None if vocabulary is None else [str(v) for v in vocabulary]
        self.min_count, self.out_dim = min_count, out_dim
        self.index = {v: i + 1 for i, v in enumerate(self.vocabulary or [])}
        self.embed = nn.Embedding(len(self.index) + 1, out_dim)

    def loader(self) -> CategoryLoader:
        return CategoryLoader()

    def prepare(self, values: Sequence[Any]) -> None:
        """The sorted categories seen at least `min_count` times (as `str`, like CategoryLoader).

        A vocabulary already there (given, or rebuilt from config) is kept.
        """
        if self.vocabulary is not None:
            return
        counts = Counter(str(v) for v in values if not _is_missing(v))
        self.vocabulary = sorted(v for v, n in counts.items() if n >= self.min_count)
        self.index = {v: i + 1 for i, v in enumerate(self.vocabulary)}
        self.embed = nn.Embedding(len(self.index) + 1, self.out_dim).to(self.embed.weight.device)
        self.set_mode(self.mode)  # the new embedding follows the current mode

    def config(self) -> dict:
        return {"vocabulary": self.vocabulary, "min_count": self.min_count, "out_dim": self.out_dim}

    def forward(self, values: Sequence[str]) -> EncoderOutput:
        if self.vocabulary is None:
            raise PolymodalError("categorical: call prepare(values) with the training column before encoding")
        ids = torch.tensor([self.index.get(str(v), 0) for v in values], dtype=torch.long,
                           device=self.embed.weight.device)
        return EncoderOutput(self.embed(ids))


@register_encoder("numeric", ["numeric"], summary="standardised with training mean/std, then a small MLP")
def build_numeric(mean: float | None = None, std: float | None = None, hidden: int = 32,
                  out_dim: int = 16) -> NumericMLP:
    return NumericMLP(mean=mean, std=std, hidden=hidden, out_dim=out_dim)


@register_encoder("categorical", ["categorical"], summary="embedding of a learned vocabulary + unknown bucket")
def build_categorical(vocabulary: list[str] | None = None, min_count: int = 1, out_dim: int = 16) -> CategoryEmbedding:
    return CategoryEmbedding(vocabulary=vocabulary, min_count=min_count, out_dim=out_dim)
