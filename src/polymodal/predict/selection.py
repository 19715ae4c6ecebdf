"""Ensemble selection (Caruana, Niculescu-Mizil, Crew and Ksikes, "Ensemble Selection from Libraries of
Models", ICML 2004): starting from nothing, add (with replacement) the candidate whose probabilities,
averaged with those already chosen, score best on the validation rows, for a fixed number of rounds; a
candidate's weight is the share of rounds that chose it, in the best ensemble of any round (the first
round's is the best single candidate, so the result never scores below it on those rows).

Written here rather than taken from a library: it is twenty lines over probabilities we already hold, and
scikit-learn has no equivalent (its VotingClassifier refits members and takes fixed weights).
"""

from __future__ import annotations

import numpy as np

ROUNDS = 25  # enough for weights in steps of 4%; more mostly adds ties on a small validation split


def ensemble_selection(probas: list[np.ndarray], targets: np.ndarray, rounds: int = ROUNDS) -> np.ndarray:
    """Weights (summing to 1) of `probas` (each `[N, C]`, rows summing to 1) for the targets `[N]` (class
    indices). Each round adds the member that maximises balanced accuracy of the running average, ties broken
    by the lower log loss (balanced accuracy alone ties often on a small validation split)."""
    counts = np.zeros(len(probas))
    total = np.zeros_like(probas[0], dtype=np.float64)
    kept, kept_key = None, None
    for _ in range(rounds):
        best, best_key = 0, None
        for i, p in enumerate(probas):
            mean = (total + p) / (counts.sum() + 1)
            key = (_balanced_accuracy(mean, targets), -_log_loss(mean, targets))
            if best_key is None or key > best_key:
                best, best_key = i, key
        counts[best] += 1
        total += probas[best]
        if kept_key is None or best_key > kept_key:  # the best ensemble of any round, as in the paper: a forced
            kept, kept_key = counts.copy(), best_key  # addition may make the average worse, never the result
    return kept / kept.sum()


def _balanced_accuracy(proba: np.ndarray, targets: np.ndarray) -> float:
    pred = proba.argmax(1)
    return float(np.mean([(pred[targets == c] == c).mean() for c in np.unique(targets)]))


def _log_loss(proba: np.ndarray, targets: np.ndarray) -> float:
    return float(-np.log(np.clip(proba[np.arange(len(targets)), targets], 1e-12, None)).mean())
