"""Metrics of generated samples: Fréchet distance between feature distributions, R-precision
against the prompts, mean pairwise distance (diversity). Plain functions over numpy arrays."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [N, D] (Heusel et al. 2017):
    |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)). With Inception-v3 features this is the FID;
    with other features it is the same distance in that feature space, and must be named after it."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"the Fréchet distance needs at least 2 samples on each side, got {len(real)} and {len(fake)}")
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    with warnings.catch_warnings():  # fewer samples than dimensions make the product singular: expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_r @ cov_f)
        if not np.isfinite(root).all():  # nudge both diagonals, as the reference FID code does
            eps = np.eye(len(cov_r)) * 1e-6
            root = linalg.sqrtm((cov_r + eps) @ (cov_f + eps))
    root = root.real  # tiny imaginary parts are numerical noise
    return float(np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r) + np.trace(cov_f) - 2 * np.trace(root))


def frechet_with_floor(real: np.ndarray, fake: np.ndarray) -> dict[str, float | int]:
    """Fréchet distance of generated features to real ones next to the real-vs-real floor, at one sample size.

    With fewer samples than feature dimensions the covariance estimates are poor and the distance is
    biased upward, the more the fewer samples: a floor from two real halves compared with a distance
    from all rows would favour the generator. So both use halves: `fake` rows of the second half
    (generated for the second half's prompts, row for row) and real rows of the second half, each
    against the first real half. `full` is the distance over all rows (larger samples, not
    comparable with the floor)."""
    if len(real) != len(fake):
        raise ValueError(f"real and generated features must pair row for row, got {len(real)} and {len(fake)}")
    half = len(real) // 2
    if half < 2:
        raise ValueError(f"the floor needs at least 4 rows, got {len(real)}")
    reference = real[:half]
    return {"generated": frechet_distance(reference, fake[half:2 * half]),
            "floor": frechet_distance(reference, real[half:2 * half]),
            "full": frechet_distance(real, fake), "samples": half}


def r_precision(sim: np.ndarray, true: np.ndarray, *, r: int = 100, seed: int = 0) -> float:
    """R-precision as in AttnGAN (Xu et al. 2018): for each generated sample (row of `sim`, its
    similarity to every candidate text), rank its own text `true[i]` among itself and r - 1 other
    texts drawn at random; the share of samples whose own text ranks first. Chance is 1 / r."""
    sim = np.asarray(sim, np.float64)
    n, m = sim.shape
    r = min(r, m)
    if r < 2:
        raise ValueError(f"R-precision needs at least 2 distinct texts, got {m}")
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(n):
        others = np.delete(np.arange(m), true[i])
        pool = rng.choice(others, r - 1, replace=False)
        hits += int(sim[i, true[i]] > sim[i, pool].max())
    return hits / max(n, 1)


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows of [N, D], divided by sqrt(D) (a per-value RMS
    difference, comparable across sizes). 0 for fewer than 2 rows."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    if len(x) < 2:
        return 0.0
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(d2[iu]).mean() / np.sqrt(x.shape[1]))
