"""An affine shared space: each column's features are standardised with the training mean and
standard deviation, multiplied by a solved matrix, and L2-normalised. CCA, Procrustes and ridge
maps are all of this form, so they share storage, embedding and the export as a linear layer
(used to start the contrastive heads at the closed-form solution)."""

from __future__ import annotations

import numpy as np

from .base import ClosedForm, Features, unit


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, mean, scale): z = (x - mean) / scale; constant features keep scale 1 (they carry nothing)."""
    x = np.asarray(x, dtype=np.float64)
    mean, std = x.mean(0), x.std(0)
    scale = np.where(std > 1e-8, std, 1.0)
    return (x - mean) / scale, mean, scale


def pca(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top-k principal directions `[D, k]` of centred rows `z` and their variances `[k]`."""
    values, vectors = np.linalg.eigh(z.T @ z / len(z))
    order = np.argsort(values)[::-1][:k]
    return vectors[:, order], np.maximum(values[order], 0.0)


class AffineSpace(ClosedForm):
    def __init__(self, columns: list[str], dim: int) -> None:
        super().__init__(columns, dim)
        self.maps: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # column -> mean, scale, weight

    def store(self, column: str, mean: np.ndarray, scale: np.ndarray, weight: np.ndarray) -> None:
        """Keep a column's map at float32 precision, as saved: a reloaded space embeds bit for bit alike."""
        self.maps[column] = tuple(np.asarray(a, dtype=np.float32).astype(np.float64) for a in (mean, scale, weight))

    def rank(self, feats: Features) -> int:
        """Dimensions a solution can have: `dim`, each column's width and the rows' rank bound it."""
        n = len(next(iter(feats.values())))
        return max(1, min(self.dim, n - 1, *(feats[c].shape[1] for c in self.columns)))

    def embed(self, column: str, x: np.ndarray) -> np.ndarray:
        x = self._check(column, x, len(self.maps[column][0]) if column in self.maps else -1)
        mean, scale, weight = self.maps[column]
        return unit(((x - mean) / scale) @ weight)

    def linear(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(W `[D, out_dim]`, b `[out_dim]`) with `embed(column, x)` = normalise(x @ W + b)."""
        mean, scale, weight = self.maps[column]
        w = weight / scale[:, None]
        return w, -(mean @ w)

    @property
    def out_dim(self) -> int:
        return next(iter(self.maps.values()))[2].shape[1]

    def tensors(self) -> dict[str, np.ndarray]:
        out = {}
        for column, arrays in self.maps.items():
            parts = zip(("mean", "scale", "weight"), arrays, strict=True)
            # contiguous: safetensors.numpy writes a strided view's memory as it lies, not its values
            out |= {f"{part}:{column}": np.ascontiguousarray(a, dtype=np.float32) for part, a in parts}
        return out

    def set_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        self.maps = {c: tuple(np.asarray(tensors[f"{p}:{c}"], dtype=np.float64) for p in ("mean", "scale", "weight"))
                     for c in self.columns}
