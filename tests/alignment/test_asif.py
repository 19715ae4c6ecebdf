"""ASIF against hand-computed vectors, and on synthetic pairs whose two spaces differ."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.alignment import ASIF
from polymodal.alignment import asif as asif_module
from polymodal.metrics.retrieval import retrieval_metrics

# Unit anchors: A in 2-D, B in 3-D (different encoders, different widths).
ANCHORS_A = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
ANCHORS_B = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def test_hand_computed_vectors():
    model = ASIF(ANCHORS_A, ANCHORS_B, k=2, p=2.0)
    # [2, 0] has cosines [1, 0.6, 0]: keep the top 2, square -> [1, 0.36, 0], then unit norm.
    # [-1, 0] has cosines [-1, -0.6, 0]: clamped at 0 it is similar to no anchor -> zero vector.
    got = model.embed_a(np.array([[2.0, 0.0], [-1.0, 0.0]]))
    np.testing.assert_allclose(got[0], np.array([1.0, 0.36, 0.0]) / np.sqrt(1 + 0.36**2), rtol=1e-6)
    np.testing.assert_array_equal(got[1], 0.0)
    # [0, 0.6, 0.8] has cosines [0, 0.6, 0.8]: top 2, squared -> [0, 0.36, 0.64].
    eb = model.embed_b(np.array([[0.0, 0.6, 0.8]]))
    np.testing.assert_allclose(eb[0], np.array([0.0, 0.36, 0.64]) / np.sqrt(0.36**2 + 0.64**2), rtol=1e-6)
    sim = model.similarity(np.array([[2.0, 0.0]]), np.array([[0.0, 0.6, 0.8]]))
    assert sim.shape == (1, 1)
    assert sim[0, 0] == pytest.approx(0.36 * 0.36 / np.sqrt(1 + 0.36**2) / np.sqrt(0.36**2 + 0.64**2), rel=1e-6)


def synthetic_pairs(n: int, rng: np.random.Generator, mix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Modality B is a fixed random linear map of modality A plus noise: paired, but in another space."""
    a = rng.normal(size=(n, mix.shape[0]))
    return a, a @ mix + 0.3 * rng.normal(size=(n, mix.shape[1]))


def test_retrieval_far_above_chance_and_raw_features():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(32, 32))  # same width, so comparing raw A with raw B is possible (and meaningless)
    anchors_a, anchors_b = synthetic_pairs(1000, rng, mix)
    query_a, query_b = synthetic_pairs(200, rng, mix)
    positives = np.eye(200, dtype=bool)
    asif = retrieval_metrics(ASIF(anchors_a, anchors_b).similarity(query_a, query_b), positives, ks=(1, 5))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    raw = retrieval_metrics(unit(query_a) @ unit(query_b).T, positives, ks=(1, 5))
    assert asif["chance_recall@1"] == pytest.approx(1 / 200)
    assert asif["recall@1"] > 0.5 and asif["recall@5"] > 0.9
    assert raw["recall@1"] < 0.05 and raw["recall@5"] < 0.1


def test_k_clips_to_the_number_of_anchors_and_sets_the_non_zeros():
    rng = np.random.default_rng(1)
    a, b = np.abs(rng.normal(size=(50, 8))), np.abs(rng.normal(size=(50, 6)))  # all cosines > 0
    x = np.abs(rng.normal(size=(10, 8)))
    assert ASIF(a, b, k=5000).k == 50 and ASIF(a, b).k == 50
    np.testing.assert_array_equal(ASIF(a, b, k=5000).embed_a(x), ASIF(a, b, k=50).embed_a(x))
    for k in (1, 7, 50):
        emb = ASIF(a, b, k=k).embed_a(x)
        assert emb.shape == (10, 50) and emb.dtype == np.float32
        assert ((emb != 0).sum(axis=1) == k).all()
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
        # The kept entries are the k most similar anchors.
        cos = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (a / np.linalg.norm(a, axis=1, keepdims=True)).T
        kth = np.sort(cos, axis=1)[:, -k][:, None]
        assert np.all((emb != 0) == (cos >= kth))


def test_p_sharpens_towards_the_nearest_anchors():
    rng = np.random.default_rng(2)
    a, b = np.abs(rng.normal(size=(40, 8))), np.abs(rng.normal(size=(40, 6)))
    x = np.abs(rng.normal(size=(10, 8)))
    # p = 1 with every anchor kept is the plain cosine vector, normalised.
    cos = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (a / np.linalg.norm(a, axis=1, keepdims=True)).T
    np.testing.assert_allclose(ASIF(a, b, k=40, p=1).embed_a(x), cos / np.linalg.norm(cos, axis=1, keepdims=True),
                               rtol=1e-5)
    peaks = [ASIF(a, b, k=40, p=p).embed_a(x).max(axis=1).mean() for p in (1, 4, 8, 32)]
    assert peaks == sorted(peaks) and peaks[-1] > 0.8 > 0.5 > peaks[0]


def test_blocking_does_not_change_results(monkeypatch):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(30, 8)), rng.normal(size=(30, 5))
    xa, xb = rng.normal(size=(17, 8)), rng.normal(size=(9, 5))
    model = ASIF(a, b, k=10, p=8)
    whole = model.similarity(xa, xb)
    np.testing.assert_allclose(whole, model.embed_a(xa) @ model.embed_b(xb).T, rtol=1e-5, atol=1e-7)
    monkeypatch.setattr(asif_module, "_BLOCK_ENTRIES", 70)  # blocks of 2 rows, the last one short
    np.testing.assert_allclose(model.similarity(xa, xb), whole, rtol=1e-5, atol=1e-7)


def test_errors_are_clear():
    a, b = np.ones((4, 3)), np.ones((4, 2))
    with pytest.raises(ValueError, match="same examples"):
        ASIF(a, b[:3])
    with pytest.raises(ValueError, match=r"\[n, 3\]"):
        ASIF(a, b).embed_a(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        ASIF(a, b).embed_b(np.ones(2))
    with pytest.raises(ValueError, match="2-D"):
        ASIF(np.ones(4), b)
    with pytest.raises(ValueError, match="all-zero"):
        ASIF(np.vstack([a[:3], np.zeros((1, 3))]), b)
    with pytest.raises(ValueError, match="NaN"):
        ASIF(a, b).similarity(np.full((1, 3), np.nan), np.ones((1, 2)))
    for k in (0, 2.5, True):
        with pytest.raises(ValueError, match="k"):
            ASIF(a, b, k=k)
    for p in (0, -1, float("inf")):
        with pytest.raises(ValueError, match="p"):
            ASIF(a, b, p=p)
