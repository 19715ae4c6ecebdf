"""ASIF: a training-free shared space for two modalities, built from coupled anchor pairs.

Norelli, Fumero, Maiorca, Moschella, Rodolà and Locatello, "ASIF: Coupled Data Turns
Unimodal Models to Multimodal Without Training" (arXiv 2210.01738, 2022; NeurIPS 2023).
Two frozen unimodal encoders never see each other's space; what links them is N anchor
pairs, the same N examples encoded in modality A and in modality B. A sample of modality A
is described by its cosine similarities to the N A-anchors, a sample of B by its
similarities to the N B-anchors. Both are N-vectors whose entry i refers to the same
anchor pair, so they are comparable ("the captions of similar images are themselves
similar"). As in the paper, each vector keeps only its k largest entries, raises them to
the power p (sharpening it towards the nearest anchors), and is L2-normalised; A and B
are then compared by dot product. The paper uses k = 800 non-zero entries and p = 8 with
1.6M anchor pairs; with fewer anchors, k is clipped to N.

One departure from the authors' code: similarities are clamped at 0 before the power, so a
strongly *dissimilar* anchor cannot count as similar through an even power. With millions
of anchors the top 800 are positive anyway, so this matters only for small anchor sets.
"""

from __future__ import annotations

import numpy as np

from ..errors import PolymodalError
from ..metrics.retrieval import unit_rows

# Query rows per block, so that the [rows, N] similarity block stays near 4M floats (~16 MB).
_BLOCK_ENTRIES = 4_000_000


class ASIF:
    """Relative-representation space over `anchors_a` `[N, Da]` and `anchors_b` `[N, Db]`,
    where row i of both is one coupled example. `k` non-zero entries per vector (clipped to N),
    similarities raised to the power `p`. Nothing is learned; the anchors are the model."""

    def __init__(self, anchors_a: np.ndarray, anchors_b: np.ndarray, *, k: int = 800, p: float = 8.0):
        self.anchors_a = unit_rows(anchors_a, "anchors_a", np.float32)
        self.anchors_b = unit_rows(anchors_b, "anchors_b", np.float32)
        if len(self.anchors_a) != len(self.anchors_b):
            raise PolymodalError(f"anchors_a and anchors_b must hold the same examples, row for row: got "
                                 f"{len(self.anchors_a)} and {len(self.anchors_b)} rows")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise PolymodalError(f"k (non-zero entries per vector) must be a positive integer, got {k!r}")
        if not np.isfinite(p) or p <= 0:
            raise PolymodalError(f"p (similarity exponent) must be a positive number, got {p!r}")
        self.k = min(int(k), len(self.anchors_a))
        self.p = float(p)

    @property
    def n_anchors(self) -> int:
        """N, the length of every embedding."""
        return len(self.anchors_a)

    def embed_a(self, x: np.ndarray) -> np.ndarray:
        """Relative representation `[n, N]` (float32, `k` non-zeros per row, unit norm) of A-features `x` `[n, Da]`."""
        return _relative(_queries(x, self.anchors_a, "x (modality a)"), self.anchors_a, self.k, self.p)

    def embed_b(self, x: np.ndarray) -> np.ndarray:
        """Relative representation `[n, N]` of B-features `x` `[n, Db]`, comparable with `embed_a`."""
        return _relative(_queries(x, self.anchors_b, "x (modality b)"), self.anchors_b, self.k, self.p)

    def similarity(self, xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
        """Cosine `[na, nb]` between the relative representations of A-features `xa` and B-features `xb`."""
        eb = self.embed_b(xb)
        xa = _queries(xa, self.anchors_a, "xa (modality a)")
        block = max(1, _BLOCK_ENTRIES // self.n_anchors)
        out = np.empty((len(xa), len(eb)), dtype=np.float32)
        for start in range(0, len(xa), block):  # never hold all of embed_a(xa) at once
            out[start:start + block] = _relative(xa[start:start + block], self.anchors_a, self.k, self.p) @ eb.T
        return out


def relative_representation(x: np.ndarray, anchors: np.ndarray, *, k: int = 800, p: float = 8.0) -> np.ndarray:
    """Relative representation `[n, N]` of features `x` `[n, D]` against unit-row `anchors` `[N, D]`
    (one column of the anchor pairs): what `ASIF.embed_a`/`embed_b` compute, for any number of columns."""
    return _relative(_queries(x, anchors, "x"), anchors, min(int(k), len(anchors)), float(p))


def _relative(x: np.ndarray, anchors: np.ndarray, k: int, p: float) -> np.ndarray:
    """Top-k clamped cosines to the anchors, to the power p, L2-normalised; unit rows `x` in, block by block."""
    n_anchors = len(anchors)
    out = np.zeros((len(x), n_anchors), dtype=np.float32)
    block = max(1, _BLOCK_ENTRIES // n_anchors)
    for start in range(0, len(x), block):
        sim = x[start:start + block] @ anchors.T
        # argpartition puts the k largest in the last k columns, unordered: no full sort needed.
        top = np.argpartition(sim, n_anchors - k, axis=1)[:, n_anchors - k:]
        values = np.maximum(np.take_along_axis(sim, top, axis=1), 0.0)
        # Dividing by the row's largest value first keeps values**p away from float32 underflow
        # (0.01**8 = 1e-16 is fine, 1e-6**8 is not); the L2 normalisation below undoes the scale.
        peak = values.max(axis=1, keepdims=True)
        values = (values / np.where(peak > 0, peak, 1.0)) ** p
        norm = np.linalg.norm(values, axis=1, keepdims=True)
        # A sample dissimilar to every anchor keeps a zero vector: similarity 0 to everything.
        np.put_along_axis(out[start:start + block], top, values / np.where(norm > 0, norm, 1.0), axis=1)
    return out


def _queries(x: np.ndarray, anchors: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != anchors.shape[1]:
        raise PolymodalError(f"{name} must be features [n, {anchors.shape[1]}] from the anchors' encoder, "
                             f"got shape {x.shape} (pass x[None] for a single sample)")
    if not np.isfinite(x).all():
        raise PolymodalError(f"{name} holds NaN or infinite values")
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)
