"""An affine shared space: each column's features are standardised with the training mean and
standard deviation, multiplied by a solved matrix, and L2-normalised. CCA, Procrustes and ridge
maps are all of this form, so they share storage, embedding and the export as a linear layer
(used to start the contrastive heads at the closed-form solution).

They also share their costly first step, `prepare`: each column standardised and its covariance
eigendecomposed once. Every option set of every affine method then solves from it (whitening with
any ridge, principal directions, ridge solutions are all cheap in that eigenbasis), so a grid of
options costs little more than one solve."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .base import ClosedForm, Features, unit


@dataclass
class Eigen:
    """A standardised column z = (x - mean) / scale, z's covariance = vectors diag(values) vectors^T
    (values in decreasing order, clipped at 0), and z in that eigenbasis, coords = z @ vectors."""
    coords: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    values: np.ndarray
    vectors: np.ndarray


@dataclass
class Prepared:
    columns: dict[str, Eigen]
    memo: dict = field(default_factory=dict)  # results a method reuses across its option sets

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values())).coords)

    def cross(self, a: str, b: str) -> np.ndarray:
        """coords_a^T coords_b / n, the cross-covariance of two columns in their eigenbases (memoised)."""
        key = ("cross", a, b)
        if key not in self.memo:
            self.memo[key] = self.columns[a].coords.T @ self.columns[b].coords / self.rows
        return self.memo[key]


def eigen(x: np.ndarray) -> Eigen:
    x = np.asarray(x, dtype=np.float64)
    mean, std = x.mean(0), x.std(0)
    scale = np.where(std > 1e-8, std, 1.0)  # constant features keep scale 1: they carry nothing
    z = (x - mean) / scale
    values, vectors = np.linalg.eigh(z.T @ z / len(z))
    vectors = np.ascontiguousarray(vectors[:, ::-1])
    return Eigen(z @ vectors, mean, scale, np.maximum(values[::-1], 0.0), vectors)


class AffineSpace(ClosedForm):
    def __init__(self, columns: list[str], dim: int) -> None:
        super().__init__(columns, dim)
        self.maps: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # column -> mean, scale, weight

    @classmethod
    def prepare(cls, feats: Features) -> Prepared:
        return Prepared({c: eigen(x) for c, x in feats.items()})

    def store(self, column: str, e: Eigen, weight: np.ndarray) -> None:
        """Keep a column's map at float32 precision, as saved: a reloaded space embeds bit for bit alike."""
        self.maps[column] = tuple(np.asarray(a, dtype=np.float32).astype(np.float64) for a in (e.mean, e.scale, weight))

    def rank(self, prepared: Prepared) -> int:
        """Dimensions a solution can have: `dim`, each column's width and the rows' rank bound it."""
        widths = [prepared.columns[c].coords.shape[1] for c in self.columns]
        return max(1, min(self.dim, prepared.rows - 1, *widths))

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
