"""Least-squares (ridge) maps into one reference column's space: the reference is standardised
and reduced to its top-k principal directions, and every other column gets the linear map that
predicts those coordinates from its own standardised features, W = (Z^T Z / n + alpha I)^-1 Z^T Y / n
(features are standardised, so alpha is relative to a mean eigenvalue of 1). Unlike a rotation it
may stretch and mix directions, which pays off when the spaces are related but not isometric;
the reference column and alpha are chosen on validation."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .affine import AffineSpace, pca, standardise
from .base import Features, register_method

ALPHAS = (0.01, 0.1, 1.0, 10.0)


@register_method("ridge")
class Ridge(AffineSpace):
    def __init__(self, columns: list[str], dim: int, *, reference: int = 0, alpha: float = 1.0) -> None:
        super().__init__(columns, dim)
        self.reference, self.alpha = int(reference), float(alpha)

    @classmethod
    def grid(cls, columns: list[str]) -> list[dict]:
        return [{"reference": r, "alpha": a} for a in (1.0, *(a for a in ALPHAS if a != 1.0))
                for r in range(len(columns))]

    def options(self) -> dict:
        return {"reference": self.reference, "alpha": self.alpha}

    def solve(self, feats: Features) -> None:
        k = self.rank(feats)
        ref = self.columns[self.reference]
        z_ref, mean, scale = standardise(feats[ref])
        directions, _ = pca(z_ref, k)
        target = z_ref @ directions
        self.store(ref, mean, scale, directions)
        for c in self.columns:
            if c == ref:
                continue
            z, mean, scale = standardise(feats[c])
            gram = z.T @ z / len(z) + self.alpha * np.eye(z.shape[1])
            self.store(c, mean, scale, scipy.linalg.solve(gram, z.T @ target / len(z), assume_a="pos"))
