"""Retrieval metrics against values worked out by hand, brute force and scikit-learn."""

from __future__ import annotations

import itertools
import json
from math import comb

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from polymodal.metrics.retrieval import (
    bidirectional,
    consistency_score,
    positives_from_keys,
    retrieval_metrics,
    zero_shot_accuracy,
)

# Three queries over four items.
#   q0: only positive (item 0) ranked 1st                      -> rank 1, AP 1
#   q1: positives items 2, 3 ranked 2nd and 3rd behind item 1  -> rank 2, AP (1/2 + 2/3) / 2 = 7/12
#   q2: only positive (item 3) ranked last                     -> rank 4, AP 1/4
SIM = np.array([[0.9, 0.1, 0.5, 0.3],
                [0.2, 0.8, 0.6, 0.4],
                [0.7, 0.6, 0.5, 0.1]])
POS = np.array([[1, 0, 0, 0],
                [0, 0, 1, 1],
                [0, 0, 0, 1]], dtype=bool)


def test_hand_computed_example():
    m = retrieval_metrics(SIM, POS, ks=(1, 2, 5))
    assert m["n_queries"] == 3 and m["n_items"] == 4
    assert m["mean_positives"] == pytest.approx(4 / 3)
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@2"] == pytest.approx(2 / 3)
    assert m["recall@5"] == pytest.approx(1.0)  # k beyond the number of items finds everything
    assert m["median_rank"] == 2.0
    assert m["mean_rank"] == pytest.approx(7 / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 4) / 3)
    assert m["map"] == pytest.approx((1 + 7 / 12 + 1 / 4) / 3)
    # chance R@1: 1/4, 1 - C(2,1)/C(4,1) = 1/2, 1/4; R@2: 1/2, 1 - C(2,2)/C(4,2) = 5/6, 1/2
    assert m["chance_recall@1"] == pytest.approx((1 / 4 + 1 / 2 + 1 / 4) / 3)
    assert m["chance_recall@2"] == pytest.approx((1 / 2 + 5 / 6 + 1 / 2) / 3)
    assert m["chance_recall@5"] == pytest.approx(1.0)
    assert m["chance_mean_rank"] == pytest.approx((5 / 2 + 5 / 3 + 5 / 2) / 3)
    json.dumps(m)  # plain Python values only
    assert all(type(v) in (int, float) for v in m.values())


def test_any_positive_counts_for_recall_and_first_positive_for_rank():
    sim = np.array([[0.1, 0.9, 0.8, 0.2, 0.3]])
    one = retrieval_metrics(sim, np.array([[0, 0, 0, 0, 1]], dtype=bool), ks=(1, 3))
    two = retrieval_metrics(sim, np.array([[0, 1, 0, 0, 1]], dtype=bool), ks=(1, 3))
    assert (one["recall@1"], one["recall@3"], one["mean_rank"]) == (0.0, 1.0, 3.0)
    assert (two["recall@1"], two["recall@3"], two["mean_rank"]) == (1.0, 1.0, 1.0)
    assert two["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_ties_are_expected_values_over_random_tie_order():
    # Item 1 (the positive) ties with two negatives at the top: rank 1 + 2/2 = 2,
    # R@1 = 1 - C(2,1)/C(3,1) = 1/3, R@2 = 1 - C(2,2)/C(3,2) = 2/3; AP: one group of 3 -> 1/3.
    m = retrieval_metrics(np.array([[0.5, 0.5, 0.5, 0.1]]), np.array([[0, 1, 0, 0]], dtype=bool), ks=(1, 2, 3))
    assert m["mean_rank"] == pytest.approx(2.0)
    assert (m["recall@1"], m["recall@2"], m["recall@3"]) == pytest.approx((1 / 3, 2 / 3, 1.0))
    assert m["map"] == pytest.approx(1 / 3)
    # Two positives tied with one negative: the first positive is 2nd only when the negative leads (1/3).
    m = retrieval_metrics(np.array([[0.5, 0.5, 0.5]]), np.array([[1, 1, 0]], dtype=bool), ks=(1,))
    assert m["mean_rank"] == pytest.approx(4 / 3)
    assert m["recall@1"] == pytest.approx(2 / 3)


def test_ties_match_brute_force_over_every_tie_order():
    rng = np.random.default_rng(3)
    sim = rng.integers(0, 3, size=(4, 6)).astype(float)  # three levels: ties everywhere
    pos = rng.random((4, 6)) < 0.35
    pos[np.arange(4), rng.integers(0, 6, 4)] = True
    ranks, hits = [], []
    for i in range(4):
        # Every order of the row consistent with sim: sort by sim, then by each permutation as a tie-break.
        orders = [np.lexsort((np.array(perm), -sim[i])) for perm in itertools.permutations(range(6))]
        firsts = [1 + np.flatnonzero(pos[i][order])[0] for order in orders]
        ranks.append(np.mean(firsts))
        hits.append([np.mean(np.array(firsts) <= k) for k in (1, 2, 3)])
    m = retrieval_metrics(sim, pos, ks=(1, 2, 3))
    assert m["mean_rank"] == pytest.approx(np.mean(ranks))
    for j, k in enumerate((1, 2, 3)):
        assert m[f"recall@{k}"] == pytest.approx(np.mean(hits, axis=0)[j])


def test_map_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    sim = np.round(rng.random((30, 25)), 1)  # rounding makes ties
    pos = rng.random((30, 25)) < 0.2
    pos[:, 0] = True
    expected = np.mean([average_precision_score(pos[i], sim[i]) for i in range(30)])
    assert retrieval_metrics(sim, pos)["map"] == pytest.approx(expected)


def test_item_order_does_not_change_any_metric():
    rng = np.random.default_rng(1)
    sim = np.round(rng.random((20, 15)), 1)
    pos = rng.random((20, 15)) < 0.2
    pos[:, 3] = True
    perm = rng.permutation(15)
    assert retrieval_metrics(sim[:, perm], pos[:, perm]) == pytest.approx(retrieval_metrics(sim, pos))


def test_perfect_and_reversed_rankings():
    n = 10
    distance = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]).astype(float)
    pos = np.eye(n, dtype=bool)
    best = retrieval_metrics(-distance, pos)
    assert (best["recall@1"], best["map"], best["mrr"], best["mean_rank"]) == (1.0, 1.0, 1.0, 1.0)
    worst = retrieval_metrics(distance, pos)  # every positive scores strictly below every other item
    assert (worst["recall@1"], worst["recall@5"], worst["median_rank"]) == (0.0, 0.0, float(n))
    assert worst["map"] == pytest.approx(1 / n) and worst["mrr"] == pytest.approx(1 / n)


def test_chance_level_matches_monte_carlo_and_constant_scores_sit_at_chance():
    rng = np.random.default_rng(0)
    n_items, ks = 12, (1, 3, 5)
    pos = np.zeros((6, n_items), dtype=bool)
    for i, p in enumerate([1, 1, 2, 3, 4, 6]):
        pos[i, rng.choice(n_items, p, replace=False)] = True
    m = retrieval_metrics(rng.random(pos.shape), pos, ks)
    order = np.argsort(rng.random((20_000, n_items)), axis=1)  # 20k random rankings
    for k in ks:
        estimate = np.mean([pos[i][order[:, :k]].any(axis=1).mean() for i in range(len(pos))])
        assert m[f"chance_recall@{k}"] == pytest.approx(estimate, abs=0.01)
        exact = np.mean([1 - comb(n_items - p, k) / comb(n_items, k) for p in pos.sum(axis=1)])
        assert m[f"chance_recall@{k}"] == pytest.approx(exact)
    flat = retrieval_metrics(np.zeros(pos.shape), pos, ks)  # no information: chance, not better
    for k in ks:
        assert flat[f"recall@{k}"] == pytest.approx(flat[f"chance_recall@{k}"])
    assert flat["mean_rank"] == pytest.approx(flat["chance_mean_rank"])


def test_bidirectional_is_both_directions():
    rng = np.random.default_rng(2)
    sim = rng.random((5, 7))
    pos = np.zeros((5, 7), dtype=bool)
    pos[np.arange(5), [0, 1, 2, 3, 4]] = True
    pos[[0, 1], [5, 6]] = True  # every item has a query too
    out = bidirectional(sim, pos, ks=(1, 2), names=("image_to_text", "text_to_image"))
    assert out["image_to_text"] == retrieval_metrics(sim, pos, (1, 2))
    assert out["text_to_image"] == retrieval_metrics(sim.T, pos.T, (1, 2))
    assert out["image_to_text"]["n_queries"] == 5 and out["text_to_image"]["n_queries"] == 7
    with pytest.raises(ValueError, match="names"):
        bidirectional(sim, pos, names=("x", "x"))


def test_positives_from_keys():
    got = positives_from_keys(["a red apple", "a dog", "a red apple"], ["a dog", "a red apple", "a cat", "a red apple"])
    expected = np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 1, 0, 1]], dtype=bool)
    assert got.dtype == bool and np.array_equal(got, expected)
    same = positives_from_keys(["h1", "h2", "h1"], ["h1", "h2", "h1"])
    assert np.array_equal(same, same.T) and same.diagonal().all() and same[0, 2]


def test_errors_are_clear():
    with pytest.raises(ValueError, match="no positive"):
        retrieval_metrics(SIM, np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        retrieval_metrics(SIM, POS[:, :3])
    with pytest.raises(ValueError, match="boolean"):
        retrieval_metrics(SIM, POS.astype(int))
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(np.where(POS, np.nan, SIM), POS)
    for ks in [(0,), (), (1.5,)]:
        with pytest.raises(ValueError, match="ks"):
            retrieval_metrics(SIM, POS, ks)


def test_consistency_score():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 16))
    same = consistency_score(a, a)
    assert same["true_pair_cosine"] == pytest.approx(1.0)
    assert same["shuffled_pair_cosine"] < 0.3
    assert same["consistency"] == pytest.approx(1.0 - same["shuffled_pair_cosine"])
    assert same["true_beats_shuffled"] == 1.0  # a derangement: no row is compared with itself
    # A shared offset (a "modality gap" cone) raises every cosine; the difference stays small when pairs are unrelated.
    offset = np.full(16, 3.0)
    unrelated = consistency_score(a + offset, rng.normal(size=(50, 16)) + offset)
    assert unrelated["true_pair_cosine"] > 0.7
    assert abs(unrelated["consistency"]) < 0.1
    assert consistency_score(a, a, seed=1) != same and consistency_score(a, a, seed=0) == same
    with pytest.raises(ValueError, match="at least 2"):
        consistency_score(a[:1], a[:1])
    with pytest.raises(ValueError, match="shape"):
        consistency_score(a, a[:, :8])
    with pytest.raises(ValueError, match="all-zero"):
        consistency_score(np.zeros((3, 4)), np.ones((3, 4)))


def test_zero_shot_accuracy():
    sim = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert zero_shot_accuracy(sim, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="class indices"):
        zero_shot_accuracy(sim, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="shape"):
        zero_shot_accuracy(sim, np.array([0, 1]))
