"""Regularised canonical correlation analysis (Hotelling 1936; the ridge form of Vinod 1976),
with more than two columns as generalised CCA, MAXVAR (Kettenring 1971), which equals CCA for two.

Each column is standardised, then whitened with `(C + reg * mean eigenvalue * I)^-1/2` (the ridge
keeps the whitening finite when rows are few against 384-1280 features); the canonical directions
are the singular vectors of the whitened cross-covariance (two columns) or the top eigenvectors of
the whitened views' joint covariance (three or more). Dimension i is weighted by its canonical
correlation to the power `power`, as Gong, Ke, Isard and Lazebnik do for retrieval ("A multi-view
embedding space for modeling internet images, tags, and their semantics", IJCV 2014): weak
correlations are mostly noise and should not count as much as strong ones in a cosine.

Written here rather than taken from scikit-learn: `sklearn.cross_decomposition.CCA` fits one
component at a time by NIPALS power iterations with no ridge term. On these features (n of a few
thousand rows against 384-1280 dimensions) it needs minutes for 64 components, warns that it has
not converged, and its unregularised within-column covariances are near singular. The closed form
is one eigendecomposition per column and one SVD, seconds in all.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from .affine import AffineSpace, standardise
from .base import Features, register_method

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

    def solve(self, feats: Features) -> None:
        standard = {c: standardise(feats[c]) for c in self.columns}
        whiten = {c: self._whitening(z) for c, (z, _, _) in standard.items()}
        white = [standard[c][0] @ whiten[c] for c in self.columns]
        k = self.rank(feats)
        directions, corr = _two_views(white, k) if len(white) == 2 else _maxvar(white, k)
        self.correlations_ = np.clip(corr, 0.0, 1.0)
        weight = self.correlations_ ** self.power
        for c, d in zip(self.columns, directions, strict=True):
            _, mean, scale = standard[c]
            self.store(c, mean, scale, whiten[c] @ d * weight)

    def _whitening(self, z: np.ndarray) -> np.ndarray:
        values, vectors = np.linalg.eigh(z.T @ z / len(z))
        values = np.maximum(values, 0.0)
        return vectors / np.sqrt(values + self.reg * max(values.mean(), 1e-12))


def _two_views(white: list[np.ndarray], k: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Canonical directions in each whitened view and their correlations: SVD of the cross-covariance."""
    a, b = white
    u, s, vt = np.linalg.svd(a.T @ b / len(a), full_matrices=False)
    return [u[:, :k], vt[:k].T], s[:k]


def _maxvar(white: list[np.ndarray], k: int) -> tuple[list[np.ndarray], np.ndarray]:
    """MAXVAR: top eigenvectors of the joint covariance of the whitened views. An eigenvalue lies in
    [0, J] for J views; (value - 1) / (J - 1) is the mean pairwise correlation it stands for."""
    joint = np.concatenate(white, axis=1)
    values, vectors = np.linalg.eigh(joint.T @ joint / len(joint))
    order = np.argsort(values)[::-1][:k]
    edges = np.cumsum([0] + [w.shape[1] for w in white])
    blocks = [vectors[lo:hi, order] for lo, hi in pairwise(edges)]
    blocks = [b / np.maximum(np.linalg.norm(b, axis=0), 1e-12) for b in blocks]  # unit directions per view
    return blocks, (values[order] - 1.0) / (len(white) - 1)
