"""Orthogonal Procrustes between the frozen spaces (Schönemann 1966): each column is standardised
and reduced to its top-k principal directions (optionally whitened), then rotated onto a reference
column by the orthogonal R minimising ||Z_c R - Z_ref||, R = U V^T from the SVD of Z_c^T Z_ref.
A rotation keeps each space's own geometry (distances within a modality are unchanged), so it
overfits less than a free linear map when pairs are few; which column is the reference and
whether to whiten are chosen on validation."""

from __future__ import annotations

import numpy as np

from .affine import AffineSpace, Prepared
from .base import register_method


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

    def solve(self, prepared: Prepared) -> None:
        k = self.rank(prepared)
        scale = {c: self._scale(prepared, c, k) for c in self.columns}
        ref = self.columns[self.reference]
        for c in self.columns:
            # (coords_c * s_c)^T (coords_ref * s_ref) in the top-k principal coordinates of both
            cross = scale[c][:, None] * prepared.cross(c, ref)[:k, :k] * scale[ref][None, :]
            u, _, vt = np.linalg.svd(cross)
            e = prepared.columns[c]
            self.store(c, e, e.vectors[:, :k] @ (scale[c][:, None] * (u @ vt)))

    def _scale(self, prepared: Prepared, column: str, k: int) -> np.ndarray:
        values = prepared.columns[column].values[:k]
        if not self.whiten:
            return np.ones(k)
        return 1.0 / np.sqrt(values + 1e-3 * max(values.mean(), 1e-12))  # the floor tames near-empty directions
