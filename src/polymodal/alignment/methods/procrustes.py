"""Orthogonal Procrustes between the frozen spaces (Schönemann 1966): each column is standardised
and reduced to its top-k principal directions (optionally whitened), then rotated onto a reference
column by the orthogonal R minimising ||Z_c R - Z_ref||, R = U V^T from the SVD of Z_c^T Z_ref.
A rotation keeps each space's own geometry (distances within a modality are unchanged), so it
overfits less than a free linear map when pairs are few; which column is the reference and
whether to whiten are chosen on validation."""

from __future__ import annotations

import numpy as np

from .affine import AffineSpace, pca, standardise
from .base import Features, register_method


@register_method("procrustes")
class Procrustes(AffineSpace):
    def __init__(self, columns: list[str], dim: int, *, reference: int = 0, whiten: bool = True) -> None:
        super().__init__(columns, dim)
        self.reference, self.whiten = int(reference), bool(whiten)

    @classmethod
    def grid(cls, columns: list[str]) -> list[dict]:
        return [{"reference": r, "whiten": w} for w in (True, False) for r in range(len(columns))]

    def options(self) -> dict:
        return {"reference": self.reference, "whiten": self.whiten}

    def solve(self, feats: Features) -> None:
        k = self.rank(feats)
        reduced = {}
        for c in self.columns:
            z, mean, scale = standardise(feats[c])
            directions, variances = pca(z, k)
            if self.whiten:  # a small floor keeps directions of near-zero variance from exploding
                directions = directions / np.sqrt(variances + 1e-3 * max(variances.mean(), 1e-12))
            reduced[c] = (z @ directions, mean, scale, directions)
        target = reduced[self.columns[self.reference]][0]
        for c, (projected, mean, scale, directions) in reduced.items():
            u, _, vt = np.linalg.svd(projected.T @ target, full_matrices=False)
            self.store(c, mean, scale, directions @ (u @ vt))
