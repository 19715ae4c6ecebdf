"""ASIF (Norelli et al. 2022, see alignment/asif.py) as a closed-form method: the anchors are the
training pairs, and a column's embedding is its relative representation, `[m, N]` for N anchors
with `k` non-zeros per row. So its space is as wide as the training set is long: an index over it
stores N floats a vector (no projection can shrink it without losing the anchor correspondence).
A sample dissimilar to every anchor of its column embeds as a zero row (similarity 0 to all)."""

from __future__ import annotations

import numpy as np

from ...metrics.retrieval import unit_rows
from ..asif import relative_representation
from .base import ClosedForm, Features, register_method


@register_method("asif")
class ASIFSpace(ClosedForm):
    def __init__(self, columns: list[str], dim: int, *, k: int = 800, p: float = 8.0) -> None:
        super().__init__(columns, dim)  # dim is not used: the space has one dimension per anchor
        self.k, self.p = int(k), float(p)
        self.anchors: dict[str, np.ndarray] = {}

    def options(self) -> dict:
        return {"k": self.k, "p": self.p}

    def solve(self, feats: Features) -> None:  # nothing to prepare: the anchors are the features
        self.anchors = {c: unit_rows(feats[c], f"anchors of {c}", np.float32) for c in self.columns}

    def embed(self, column: str, x: np.ndarray) -> np.ndarray:
        anchors = self.anchors.get(column)
        x = self._check(column, x, anchors.shape[1] if anchors is not None else -1)
        return relative_representation(x, anchors, k=self.k, p=self.p)

    @property
    def out_dim(self) -> int:
        return len(next(iter(self.anchors.values())))

    def tensors(self) -> dict[str, np.ndarray]:
        return {f"anchors:{c}": a for c, a in self.anchors.items()}

    def set_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        self.anchors = {c: np.asarray(tensors[f"anchors:{c}"], dtype=np.float32) for c in self.columns}
