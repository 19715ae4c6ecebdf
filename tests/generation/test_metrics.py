"""Golden values of the generation metrics: Fréchet distance, R-precision, mean pairwise distance."""

import numpy as np
import pytest

from polymodal.metrics.generation import frechet_distance, frechet_with_floor, mean_pairwise_distance, r_precision


def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    a -= a.mean(0)  # centred, so scaling moves no mean
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + np.array([3.0, 0.0, 4.0])  # same covariance: the distance is |mean shift|^2 = 25
    assert frechet_distance(a, shifted) == pytest.approx(25.0, rel=1e-6)
    scaled = a * 2.0  # Tr(S + 4S - 2 * 2S) = Tr(S) = 3 for unit variance
    assert frechet_distance(a, scaled) == pytest.approx(np.trace(np.cov(a, rowvar=False)), rel=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(a[:1], a)


def test_frechet_floor_and_generated_distance_use_the_same_sample_size():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 200))  # fewer rows per half than dimensions: a strongly biased estimate
    same = rng.normal(size=(300, 200))  # a perfect generator
    fd = frechet_with_floor(real, same)
    assert fd["samples"] == 150 and fd["full"] < 0.6 * fd["floor"]  # the bias the halves correct for
    assert fd["generated"] == pytest.approx(fd["floor"], rel=0.1)  # indistinguishable from real, as it should
    shifted = frechet_with_floor(real, same + 1.0)  # a mean off by 1 in each of 200 dimensions: +200
    assert shifted["generated"] - fd["generated"] == pytest.approx(200, rel=0.15)
    with pytest.raises(ValueError, match="row for row"):
        frechet_with_floor(real, same[:10])
    with pytest.raises(ValueError, match="at least 4 rows"):
        frechet_with_floor(real[:3], same[:3])


def test_r_precision_counts_rows_whose_own_text_wins():
    sim = np.array([[0.9, 0.1, 0.2], [0.5, 0.4, 0.1], [0.0, 0.1, 0.8]])
    assert r_precision(sim, np.array([0, 1, 2]), r=3) == pytest.approx(2 / 3)
    assert r_precision(sim, np.array([0, 0, 2]), r=3) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(2000, 50))
    assert r_precision(noise, rng.integers(0, 50, 2000), r=10) == pytest.approx(0.1, abs=0.03)  # chance is 1/r


def test_mean_pairwise_distance():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert mean_pairwise_distance(x) == pytest.approx(5.0 / np.sqrt(2))
    assert mean_pairwise_distance(np.ones((5, 8))) == pytest.approx(0.0)
    assert mean_pairwise_distance(x[:1]) == 0.0
