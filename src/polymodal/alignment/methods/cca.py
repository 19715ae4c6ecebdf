"""Regularised canonical correlation analysis (Hotelling 1936; the ridge form of Vinod 1976),
with more than two columns as generalised CCA, MAXVAR (Kettenring 1971), which equals CCA for two.

Each column is standardised, then whitened with `(C + reg * mean eigenvalue * I)^-1/2` (the ridge
keeps the whitening finite when rows are few against 384-1280 features); the canonical directions
are the singular vectors of the whitened cross-covariance (two columns) or the top eigenvectors of
the whitened columns' joint covariance (three or more). Dimension i is weighted by its canonical
correlation to the power `power`, as Gong, Ke, Isard and Lazebnik do for retrieval ("A multi-view
embedding space for modeling internet images, tags, and their semantics", IJCV 2014): weak
correlations are mostly noise and should not count as much as strong ones in a cosine.

Written here rather than taken from scikit-learn: `sklearn.cross_decomposition.CCA` (1.9) fits one
component at a time by NIPALS power iterations and has no ridge term, so with few rows against
384-1280 features its within-column covariances are near singular. On synthetic features of the
openmoji shape (2,708 rows, 1,280 and 384 dimensions, 64 components) it had not finished after 15
minutes on this 2-core machine (busy at the time); the closed form is one eigendecomposition per
column (shared with the other affine methods) and one SVD per ridge value, seconds in all.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from .affine import AffineSpace, Prepared
from .base import register_method

REGS = (1e-3, 1e-2, 1e-1, 1.0)
POWERS = (1.0, 4.0)


@register_method("cca")
class CCA(AffineSpace):
    def __init__(self, columns: list[str], dim: int, *, reg: float = 0.1, power: float = 4.0) -> None:
        super().__init__(columns, dim)
        self.reg, self.power = float(reg), float(power)

    @classmethod
    def grid(cls, columns: list[str]) -> list[dict]:
        return [{"reg": 0.1, "power": 4.0}] + [{"reg": r, "power": p} for r in REGS for p in POWERS
                                               if (r, p) != (0.1, 4.0)]

    def options(self) -> dict:
        return {"reg": self.reg, "power": self.power}

    def solve(self, prepared: Prepared) -> None:
        key = ("cca", self.reg, tuple(self.columns), self.rank(prepared))
        if key not in prepared.memo:  # the power only reweights: one solve per ridge value
            prepared.memo[key] = self._directions(prepared, key[-1])
        directions, corr = prepared.memo[key]
        self.correlations_ = np.clip(corr, 0.0, 1.0)
        for c, d in zip(self.columns, directions, strict=True):
            e = prepared.columns[c]
            self.store(c, e, e.vectors @ (self._whitening(c, prepared)[:, None] * d) * self.correlations_ ** self.power)

    def _whitening(self, column: str, prepared: Prepared) -> np.ndarray:
        """Per-eigendirection scale of the ridge whitening (C + reg * mean eigenvalue * I)^-1/2."""
        values = prepared.columns[column].values
        return 1.0 / np.sqrt(values + self.reg * max(values.mean(), 1e-12))

    def _directions(self, prepared: Prepared, k: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Canonical directions in each whitened eigenbasis, and their correlations."""
        s = {c: self._whitening(c, prepared) for c in self.columns}
        if len(self.columns) == 2:  # SVD of the whitened cross-covariance
            a, b = self.columns
            u, corr, vt = np.linalg.svd(s[a][:, None] * prepared.cross(a, b) * s[b][None, :], full_matrices=False)
            return [u[:, :k], vt[:k].T], corr[:k]
        # MAXVAR: top eigenvectors of the whitened joint covariance. An eigenvalue lies in [0, J] for J
        # columns; (value - 1) / (J - 1) is the mean pairwise correlation it stands for.
        joint = np.block([[s[a][:, None] * prepared.cross(a, b) * s[b][None, :] for b in self.columns]
                          for a in self.columns])
        values, vectors = np.linalg.eigh(joint)
        order = np.argsort(values)[::-1][:k]
        edges = np.cumsum([0] + [len(s[c]) for c in self.columns])
        blocks = [vectors[lo:hi, order] for lo, hi in pairwise(edges)]
        blocks = [b / np.maximum(np.linalg.norm(b, axis=0), 1e-12) for b in blocks]  # unit directions per column
        return blocks, (values[order] - 1.0) / (len(self.columns) - 1)
