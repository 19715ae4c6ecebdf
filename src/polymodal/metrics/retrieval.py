"""Cross-modal retrieval metrics from a similarity matrix and a mask of correct answers.

`sim[i, j]` scores item j for query i (larger is better) and `positives[i, j]`
says whether item j is a correct answer for query i. A query may have several
correct answers (the same caption on several rows, two photos of one object),
so every metric is defined for any number of positives >= 1:

- Recall@k: the query is a hit when *any* positive is among the top k
  (the convention of image-text retrieval since Karpathy & Fei-Fei 2015).
- rank: the 1-based position of the *first* positive; median and mean over queries.
- MRR: mean of 1 / rank.
- mAP: average precision over *all* positives of a query, then the mean.

Ties. Identical similarities are common (quantised or collapsed embeddings, the
same item twice) and any fixed tie-break would let item order change the score.
Rank and Recall@k are the *expected* values when tied items are put in a
uniformly random order: with `g` negatives strictly above the best positive and
`t` negatives and `m` positives tied with it, rank = 1 + g + t / (m + 1) (for one
positive: 1 + greater + half the ties), and Recall@k = 1 - C(t, k-g) / C(t+m, k-g).
MRR is 1 / that expected rank, a lower bound of the expected reciprocal rank
(Jensen) and equal to it without ties. AP scores a tie group as one threshold, as
scikit-learn's `average_precision_score` does, so a positive tied with negatives
gets the precision of the whole group. A constant `sim` therefore scores exactly
at chance on Recall@k and rank, never better.

Chance. `chance_recall@k` is the expected Recall@k of a uniformly random ranking,
1 - C(n-p, k) / C(n, k) for a query with p positives among n items, averaged over
queries; `chance_mean_rank` is the expected first-positive rank, (n + 1) / (p + 1).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from scipy.special import gammaln

from ..errors import PolymodalError

# Rows per block so that the per-block [rows, n_items] temporaries stay near 4M entries (~32 MB each).
_BLOCK_ENTRIES = 4_000_000


def retrieval_metrics(sim: np.ndarray, positives: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict:
    """Recall@k, ranks, MRR, mAP and chance levels of `sim` `[n_queries, n_items]` against the
    boolean mask `positives` of the same shape (see the module docstring for the definitions).

    Keys: `n_queries`, `n_items`, `mean_positives`, `recall@{k}` and `chance_recall@{k}` for each k,
    `median_rank`, `mean_rank`, `chance_mean_rank`, `mrr`, `map`. Every query needs at least one positive.
    """
    sim, positives, ks = _check(sim, positives, ks)
    n_queries, n_items = sim.shape
    block = max(1, _BLOCK_ENTRIES // n_items)
    ranks, hits, aps = [], [], []
    for start in range(0, n_queries, block):  # blocks of rows bound memory; all work inside is vectorised
        s, p = sim[start:start + block], positives[start:start + block]
        rank, hit = _first_positive(s, p, ks)
        ranks.append(rank)
        hits.append(hit)
        aps.append(_average_precision(s, p))
    rank, hit, ap = np.concatenate(ranks), np.concatenate(hits), np.concatenate(aps)
    n_pos = positives.sum(axis=1)
    out: dict = {"n_queries": int(n_queries), "n_items": int(n_items), "mean_positives": float(n_pos.mean())}
    for i, k in enumerate(ks):
        out[f"recall@{k}"] = float(hit[:, i].mean())
        out[f"chance_recall@{k}"] = float(np.mean(1.0 - _p_no_positive(np.full_like(n_pos, k), n_items - n_pos, n_pos)))
    out |= {"median_rank": float(np.median(rank)), "mean_rank": float(rank.mean()),
            "chance_mean_rank": float(np.mean((n_items + 1) / (n_pos + 1))),
            "mrr": float(np.mean(1.0 / rank)), "map": float(ap.mean())}
    return out


def bidirectional(sim: np.ndarray, positives: np.ndarray, ks: Sequence[int] = (1, 5, 10),
                  names: tuple[str, str] = ("a_to_b", "b_to_a")) -> dict:
    """`retrieval_metrics` both ways: rows of `sim` query its columns (`names[0]`), and the
    transpose lets the columns query the rows (`names[1]`), e.g. image->text and text->image."""
    if len(names) != 2 or names[0] == names[1]:
        raise PolymodalError(f"names must be two different direction names, got {names!r}")
    sim, positives = np.asarray(sim), np.asarray(positives)
    return {names[0]: retrieval_metrics(sim, positives, ks), names[1]: retrieval_metrics(sim.T, positives.T, ks)}


def positives_from_keys(query_keys: Sequence[Hashable], item_keys: Sequence[Hashable]) -> np.ndarray:
    """Boolean `[n_queries, n_items]` mask, True where the query's key equals the item's key.

    Keys are compared with `==` after hashing (caption strings, content hashes, class labels),
    so normalise captions (case, spaces) before calling if near-duplicates should match.
    """
    codes: dict[Hashable, int] = {}
    q = np.fromiter((codes.setdefault(k, len(codes)) for k in query_keys), dtype=np.int64)
    i = np.fromiter((codes.setdefault(k, len(codes)) for k in item_keys), dtype=np.int64)
    return q[:, None] == i[None, :]


def consistency_score(a: np.ndarray, b: np.ndarray, seed: int = 0) -> dict:
    """Multimodal consistency of paired embeddings `a`, `b` `[n, d]` (row i of each is one example).

    `true_pair_cosine` is the mean cosine of the true pairs (a[i], b[i]); `shuffled_pair_cosine`
    the mean cosine of (a[i], b[d[i]]) for a seeded random derangement d (no row keeps its
    partner); `consistency` is their difference, and `true_beats_shuffled` the fraction of rows
    whose true pair scores above its shuffled pair. The mean true-pair cosine alone is the
    "alignment" of Wang & Isola 2020 (ICML, "Understanding Contrastive Representation Learning
    through Alignment and Uniformity"), but it is also high when both modalities sit in narrow
    cones (the modality gap, Liang et al. 2022, "Mind the Gap"); subtracting the shuffled pairs
    removes that, so 0 means "pairs are no closer than strangers". Rows are L2-normalised here.
    """
    a, b = unit_rows(a, "a"), unit_rows(b, "b")
    if a.shape != b.shape:
        raise PolymodalError(f"a and b must be paired embeddings of one shape [n, d], got {a.shape} and {b.shape}")
    n = len(a)
    if n < 2:
        raise PolymodalError(f"consistency_score needs at least 2 pairs to shuffle, got {n}")
    # One random n-cycle through a random permutation: a derangement for every n >= 2, seeded.
    order = np.random.default_rng(seed).permutation(n)
    partner = np.empty(n, dtype=np.int64)
    partner[order] = np.roll(order, -1)
    true = np.einsum("ij,ij->i", a, b)
    shuffled = np.einsum("ij,ij->i", a, b[partner])
    return {"n": n, "true_pair_cosine": float(true.mean()), "shuffled_pair_cosine": float(shuffled.mean()),
            "consistency": float(true.mean() - shuffled.mean()), "true_beats_shuffled": float(np.mean(true > shuffled))}


def zero_shot_accuracy(sim_to_classes: np.ndarray, y_true: np.ndarray) -> float:
    """Fraction of rows of `sim_to_classes` `[n, C]` whose most similar class is `y_true` `[n]`
    (zero-shot classification by retrieval; a tie goes to the lowest class index, as argmax does)."""
    sim_to_classes, y_true = np.asarray(sim_to_classes), np.asarray(y_true)
    if sim_to_classes.ndim != 2 or y_true.shape != (len(sim_to_classes),) or len(y_true) == 0:
        raise PolymodalError(f"expected sim_to_classes [n, C] and y_true [n] with n >= 1, "
                             f"got shapes {sim_to_classes.shape} and {y_true.shape}")
    if y_true.dtype.kind not in "iu" or y_true.min() < 0 or y_true.max() >= sim_to_classes.shape[1]:
        raise PolymodalError(f"y_true must hold class indices in [0, {sim_to_classes.shape[1]})")
    return float(np.mean(sim_to_classes.argmax(axis=1) == y_true))


def _first_positive(sim: np.ndarray, pos: np.ndarray, ks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Expected rank of the first positive and expected hit per k, tied items in random order."""
    best = np.where(pos, sim, -np.inf).max(axis=1, keepdims=True)
    greater = (sim > best).sum(axis=1)  # only negatives can beat the best positive
    tied = sim == best
    m = (tied & pos).sum(axis=1)
    t = tied.sum(axis=1) - m
    rank = 1.0 + greater + t / (m + 1.0)
    hit = np.stack([1.0 - _p_no_positive(k - greater, t, m) for k in ks], axis=1)
    return rank, hit


def _p_no_positive(j: np.ndarray, neg: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """P(the first j of `neg` negatives and `pos` positives in random order are all negative)
    = C(neg, j) / C(neg + pos, j): 1 for j <= 0, 0 for j > neg."""
    j, neg, pos = (np.asarray(x, dtype=np.float64) for x in (j, neg, pos))
    jc = np.clip(j, 0, neg)  # keep gammaln's arguments valid; the out-of-range cases are set below
    log_ratio = gammaln(neg + 1) - gammaln(neg - jc + 1) - gammaln(neg + pos + 1) + gammaln(neg + pos - jc + 1)
    return np.where(j <= 0, 1.0, np.where(j > neg, 0.0, np.exp(log_ratio)))


def _average_precision(sim: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Per-row AP with each tie group as one threshold (scikit-learn's convention)."""
    n = sim.shape[1]
    order = np.argsort(-sim, axis=1)
    values = np.take_along_axis(sim, order, axis=1)
    sorted_pos = np.take_along_axis(pos, order, axis=1)
    # Index of the last member of each position's tie group: a reversed running minimum over group ends.
    last = np.ones_like(sorted_pos)
    last[:, :-1] = values[:, :-1] != values[:, 1:]
    end = np.where(last, np.arange(n), n)
    end = np.minimum.accumulate(end[:, ::-1], axis=1)[:, ::-1]
    hits_so_far = np.cumsum(sorted_pos, axis=1)
    precision = np.take_along_axis(hits_so_far, end, axis=1) / (end + 1.0)
    return (precision * sorted_pos).sum(axis=1) / sorted_pos.sum(axis=1)


def unit_rows(x: np.ndarray, name: str, dtype: type = np.float64) -> np.ndarray:
    """Rows scaled to unit length, for cosines; a clear error for an empty, non-finite or all-zero row."""
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 2 or len(x) == 0 or x.shape[1] == 0:
        raise PolymodalError(f"{name} must be a non-empty 2-D array [n, d], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise PolymodalError(f"{name} holds NaN or infinite values")
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    zero = np.flatnonzero(norm[:, 0] == 0)
    if len(zero):
        raise PolymodalError(f"{name}[{zero[0]}] is an all-zero vector; its cosine is undefined")
    return x / norm


def _check(sim, positives, ks) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Validate once, with messages that say what to pass instead."""
    sim, positives = np.asarray(sim), np.asarray(positives)
    if sim.dtype.kind not in "f":
        sim = sim.astype(np.float64)
    if sim.ndim != 2 or sim.shape != positives.shape or sim.size == 0:
        raise PolymodalError(f"expected sim and positives of one non-empty shape [n_queries, n_items], "
                             f"got {sim.shape} and {positives.shape}")
    if positives.dtype != bool:
        raise PolymodalError(f"positives must be a boolean mask, got dtype {positives.dtype}")
    if not np.isfinite(sim).all():
        raise PolymodalError("sim holds NaN or infinite values")
    empty = np.flatnonzero(~positives.any(axis=1))
    if len(empty):
        raise PolymodalError(f"{len(empty)} of {len(sim)} queries have no positive item (first: query "
                             f"{empty[0]}); every query needs a correct answer for its rank to exist")
    if not ks or not all(isinstance(k, int | np.integer) and not isinstance(k, bool) and k >= 1 for k in ks):
        raise PolymodalError(f"ks must be a non-empty sequence of positive integers, got {ks!r}")
    return sim, positives, tuple(sorted({int(k) for k in ks}))
