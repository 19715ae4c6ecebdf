"""The `tabular` encoder: a row's numeric and categorical columns (a schema group, schema.group_tabular) as
one modality, one encoder and one presence mask.

Its loader turns a row's `{column: value}` into one vector, by what `prepare` learned from the training
rows:
- each numeric column: the value standardised with the training mean and standard deviation (0 when
  missing, clipped at `Z_LIMIT`), and a presence bit;
- each categorical column: one-hot over its `max_categories` most frequent training values, plus a slot for
  any other value (all zeros when missing). One-hot rather than an embedding: it keeps the vector a fixed
  description of the row, which LightGBM also reads (`tree_matrix`) and which caches like any input.
Then a two-layer MLP learns from the vector. A table with fifty numeric columns is one modality, not
fifty: one "only:tabular" baseline, one token for the attention fusions, a tensor fusion that does not
explode.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import PolymodalError
from .base import EncoderOutput, register_encoder
from .scratch_image import ScratchEncoder
from .tabular import Z_LIMIT, _is_missing

MAX_CATEGORIES = 32


class RowLoader:
    """`{column: value}` (or None) -> float vector, as the encoder's learned layout says."""

    def __init__(self, numeric: dict[str, list[float]], categories: dict[str, list[str]]):
        self.numeric, self.categories = numeric, categories
        self.width = 2 * len(numeric) + sum(len(v) + 1 for v in categories.values())

    @property
    def id(self) -> str:
        blob = json.dumps([self.numeric, self.categories], sort_keys=True).encode()
        return f"tabular:{hashlib.sha256(blob).hexdigest()[:12]}"

    def __call__(self, row: dict | None) -> torch.Tensor:
        out = torch.zeros(self.width)
        row = row or {}
        i = 0
        for column, (mean, std) in self.numeric.items():
            value = row.get(column)
            if not _is_missing(value):
                z = (float(value) - mean) / std
                out[i] = 0.0 if math.isnan(z) else max(-Z_LIMIT, min(Z_LIMIT, z))  # inf clips to the limit
                out[i + 1] = 1.0
            i += 2
        for column, vocabulary in self.categories.items():
            value = row.get(column)
            if not _is_missing(value):
                try:
                    out[i + 1 + vocabulary.index(str(value))] = 1.0
                except ValueError:
                    out[i] = 1.0  # a value outside the training's most frequent ones
            i += len(vocabulary) + 1
        return out

    def empty(self) -> torch.Tensor:
        return torch.zeros(self.width)


class TabularEncoder(ScratchEncoder):
    name, roles, version = "tabular", ("tabular",), "1"

    def __init__(self, roles: dict[str, str] | None = None, numeric: dict | None = None,
                 categories: dict | None = None, max_categories: int = MAX_CATEGORIES, hidden: int = 64,
                 out_dim: int = 32) -> None:
        super().__init__()
        self.member_roles = dict(roles or {})
        bad = {c: r for c, r in self.member_roles.items() if r not in ("numeric", "categorical")}
        if bad:
            raise PolymodalError(f"tabular: member roles must be numeric or categorical, got {bad}")
        self.max_categories, self.hidden, self.out_dim = max_categories, hidden, out_dim
        self.numeric = None if numeric is None else {c: list(v) for c, v in numeric.items()}
        self.categories = None if categories is None else {c: list(v) for c, v in categories.items()}
        self.mlp = self._mlp() if self.numeric is not None else nn.Identity()

    def _mlp(self) -> nn.Module:
        width = RowLoader(self.numeric, self.categories).width
        return nn.Sequential(nn.Linear(max(width, 1), self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.out_dim))

    def loader(self) -> RowLoader:
        if self.numeric is None:
            raise PolymodalError("tabular: call prepare(values) with the training rows before loading")
        return RowLoader(self.numeric, self.categories)

    def prepare(self, values: Sequence[Any]) -> None:
        """Each numeric member's training mean and standard deviation, each categorical member's most frequent
        values. A layout already there (given, or rebuilt from config) is kept."""
        if self.numeric is not None:
            return
        rows = [v for v in values if isinstance(v, dict)]
        self.numeric, self.categories = {}, {}
        for column, role in self.member_roles.items():
            cells = [r.get(column) for r in rows if not _is_missing(r.get(column))]
            if role == "numeric":
                x = np.array([float(v) for v in cells], dtype=np.float64)
                x = x[np.isfinite(x)]
                std = float(x.std()) if len(x) > 1 else 0.0
                self.numeric[column] = [float(x.mean()) if len(x) else 0.0, std if std > 0 else 1.0]
            else:
                counts = Counter(str(v) for v in cells)
                self.categories[column] = [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                                           ][: self.max_categories]
        self.mlp = self._mlp()
        self.set_mode(self.mode)  # the new layers follow the current mode

    def config(self) -> dict:
        return {"roles": self.member_roles, "numeric": self.numeric, "categories": self.categories,
                "max_categories": self.max_categories, "hidden": self.hidden, "out_dim": self.out_dim}

    def last_blocks(self) -> nn.Module:
        return self.mlp[-1] if isinstance(self.mlp, nn.Sequential) else self.mlp

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        if self.numeric is None:
            raise PolymodalError("tabular: call prepare(values) with the training rows before encoding")
        return EncoderOutput(self.mlp(x.float()))

    def member_slots(self) -> dict[str, slice]:
        """Each member column's positions in the loaded vector (permutation importance per column)."""
        out, i = {}, 0
        for column in self.numeric:
            out[column], i = slice(i, i + 2), i + 2
        for column, vocabulary in self.categories.items():
            out[column], i = slice(i, i + len(vocabulary) + 1), i + len(vocabulary) + 1
        return out

    def tree_categorical(self) -> list[int]:
        """Positions of the categorical features in `tree_matrix` (after the numeric ones)."""
        return [len(self.numeric) + j for j in range(len(self.categories))]

    def tree_matrix(self, x: torch.Tensor) -> tuple[np.ndarray, list[int]]:
        """For gradient-boosted trees: one feature per member column, `[B, members]` float64 (the standardised
        number, or the category's code with 0 for other values; NaN where the cell is missing), and the
        positions of the categorical ones."""
        x = x.double().numpy()
        cols, categorical, i = [], [], 0
        for _ in self.numeric:
            value = x[:, i].copy()
            value[x[:, i + 1] == 0] = np.nan
            cols.append(value)
            i += 2
        for vocabulary in self.categories.values():
            block = x[:, i:i + len(vocabulary) + 1]
            code = block.argmax(1).astype(np.float64)
            code[block.sum(1) == 0] = np.nan
            categorical.append(len(cols))
            cols.append(code)
            i += len(vocabulary) + 1
        return (np.stack(cols, 1) if cols else np.zeros((len(x), 0))), categorical


@register_encoder("tabular", ["tabular"], summary="a row's numeric and categorical columns as one vector, then an MLP")
def build_tabular(roles: dict[str, str] | None = None, numeric: dict | None = None, categories: dict | None = None,
                  max_categories: int = MAX_CATEGORIES, hidden: int = 64, out_dim: int = 32) -> TabularEncoder:
    return TabularEncoder(roles=roles, numeric=numeric, categories=categories, max_categories=max_categories,
                          hidden=hidden, out_dim=out_dim)
