"""Least-squares (ridge) maps into one reference column's space: the reference is standardised
and reduced to its top-k principal coordinates Y, and every other column gets the linear map that
predicts Y from its own standardised features, W = (Z^T Z / n + alpha I)^-1 Z^T Y / n (features are
standardised, so alpha is relative to a mean eigenvalue of 1). Unlike a rotation it may stretch
and mix directions, which pays off when the spaces are related but not isometric; the reference
column and alpha are chosen on validation."""

from __future__ import annotations

from .affine import AffineSpace, Prepared
from .base import register_method

ALPHAS = (1.0, 0.01, 0.1, 10.0)  # the first is the default


@register_method("ridge")
class Ridge(AffineSpace):
    def __init__(self, columns: list[str], dim: int, *, reference: int = 0, alpha: float = 1.0) -> None:
        super().__init__(columns, dim)
        self.reference, self.alpha = int(reference), float(alpha)

    @classmethod
    def grid(cls, columns: list[str]) -> list[dict]:
        return [{"reference": r, "alpha": a} for a in ALPHAS for r in range(len(columns))]

    def options(self) -> dict:
        return {"reference": self.reference, "alpha": self.alpha}

    def solve(self, prepared: Prepared) -> None:
        k = self.rank(prepared)
        ref = self.columns[self.reference]
        self.store(ref, prepared.columns[ref], prepared.columns[ref].vectors[:, :k])
        for c in self.columns:
            if c != ref:  # in c's eigenbasis the ridge solve is a division by (eigenvalue + alpha)
                e = prepared.columns[c]
                self.store(c, e, e.vectors @ (prepared.cross(c, ref)[:, :k] / (e.values + self.alpha)[:, None]))
