"""Multi-label metrics: each example carries any number of labels, scored independently."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from ..errors import PolymodalError


def multilabel_metrics(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], threshold: float = 0.5) -> dict:
    """Metrics of `proba` `[N, L]` (independent per-label probabilities) against 0/1 `y_true` `[N, L]`.

    A label is predicted when its probability is >= `threshold`. `subset_accuracy`
    counts rows whose whole label set is right; macro averages run over the labels
    that occur in `y_true` or in the predictions. ROC-AUC is a macro average over the
    labels that have both positives and negatives in `y_true` (`auc_labels` says how
    many; None when no label qualifies).
    """
    y_true, proba = _check(y_true, proba, labels)
    y_pred = (proba >= threshold).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # zero_division=0 already decides
        out = {"n": len(y_true), "subset_accuracy": float(skm.accuracy_score(y_true, y_pred)),
               "hamming_loss": float(skm.hamming_loss(y_true, y_pred))}
        # Macro runs over labels that occur in y_true or the predictions, as for single-label classes:
        # a label absent from a small set and never predicted is not counted as a zero.
        active = np.flatnonzero(y_true.any(axis=0) | y_pred.any(axis=0))
        for average in ("micro", "macro"):
            p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0,
                                                             labels=active if len(active) else None)
            out |= {f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)}
        p, r, f, support = skm.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    both = [j for j in range(y_true.shape[1]) if 0 < y_true[:, j].sum() < len(y_true)]
    aucs = [skm.roc_auc_score(y_true[:, j], proba[:, j]) for j in both]
    out["roc_auc_macro"] = float(np.mean(aucs)) if aucs else None
    out["auc_labels"] = len(both)
    out["per_label"] = {name: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]),
                               "support": int(support[j])} for j, name in enumerate(labels)}
    return out


def _check(y_true, proba, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    y_true, proba = np.asarray(y_true), np.asarray(proba, dtype=np.float64)
    if y_true.size == 0 or proba.size == 0:
        raise PolymodalError("cannot compute multi-label metrics on an empty set (0 examples)")
    if y_true.ndim != 2 or y_true.shape != proba.shape:
        raise PolymodalError(f"expected y_true and proba both [N, L], got {y_true.shape} and {proba.shape}")
    if proba.shape[1] != len(labels) or len(set(labels)) != len(labels):
        raise PolymodalError(f"need {proba.shape[1]} unique label names, got {list(labels)}")
    if not np.isin(y_true, (0, 1)).all():
        raise PolymodalError("y_true must hold only 0 and 1")
    if not np.isfinite(proba).all() or proba.min() < 0 or proba.max() > 1:
        raise PolymodalError("proba must hold probabilities in [0, 1] (apply a sigmoid to logits)")
    return y_true.astype(np.int64), proba
