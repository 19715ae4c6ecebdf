"""Single-label classification metrics from class indices and predicted probabilities.

scikit-learn computes everything it has; what it lacks (expected calibration
error, AUC over only the classes a small validation set contains) is here.
Every value returned is a plain Python number, list or dict, so the dict goes
straight into JSON and into the HTML report.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from ..errors import PolymodalError

ECE_BINS = 15


class CalibrationBins(NamedTuple):
    """Top-1 confidence binned into equal-width bins `(edges[m], edges[m + 1]]`."""

    edges: np.ndarray  # [n_bins + 1]
    count: np.ndarray  # [n_bins] examples per bin
    confidence: np.ndarray  # [n_bins] mean top-1 probability (NaN where empty)
    accuracy: np.ndarray  # [n_bins] fraction of top-1 predictions that are right (NaN where empty)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> dict:
    """Metrics of a classifier: `y_true` `[N]` class indices, `proba` `[N, C]` rows summing to 1.

    Macro averages run over the classes that occur in `y_true` or in the predictions
    (scikit-learn's default), so a class missing from a small validation set and
    never predicted does not count as a zero. ROC-AUC and PR-AUC are one-vs-rest
    macro averages over the classes present in `y_true` (a class needs positives
    to have an AUC); `auc_classes` says how many, and both are None when fewer
    than two classes are present.
    """
    y_true, proba = _check(y_true, proba, len(classes))
    if len(set(classes)) != len(classes):
        raise PolymodalError(f"class names must be unique, got {list(classes)}")
    labels = np.arange(len(classes))
    y_pred = proba.argmax(axis=1)
    with warnings.catch_warnings():
        # Absent or never-predicted classes are normal on small sets; zero_division=0 says what we do.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        out = {"n": len(y_true), "accuracy": skm.accuracy_score(y_true, y_pred),
               "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred)}
        for average in ("macro", "micro"):
            p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
            out |= {f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f}
        out |= _one_vs_rest_auc(y_true, proba)
        out["ece"] = expected_calibration_error(y_true, proba)
        out["log_loss"] = skm.log_loss(y_true, proba, labels=labels)
        p, r, f, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None,
                                                               zero_division=0)
    out = {k: v if v is None or isinstance(v, int) else float(v) for k, v in out.items()}
    out["confusion_matrix"] = skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    out["per_class"] = {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                               "support": int(support[i])} for i, name in enumerate(classes)}
    return out


def _one_vs_rest_auc(y_true: np.ndarray, proba: np.ndarray) -> dict:
    present = np.unique(y_true)
    if len(present) < 2:
        return {"roc_auc_ovr": None, "pr_auc": None, "auc_classes": 0}
    # With two classes both one-vs-rest AUCs equal the binary AUC, so the binary case needs no branch.
    roc = [skm.roc_auc_score(y_true == c, proba[:, c]) for c in present]
    pr = [skm.average_precision_score(y_true == c, proba[:, c]) for c in present]
    return {"roc_auc_ovr": float(np.mean(roc)), "pr_auc": float(np.mean(pr)), "auc_classes": len(present)}


def calibration_bins(y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS) -> CalibrationBins:
    """Bin the top-1 confidence into `n_bins` equal-width bins (the data of a reliability diagram)."""
    y_true, proba = _check(y_true, proba)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left" on the inner edges puts a confidence equal to an edge in the lower bin: (a, b].
    index = np.searchsorted(edges[1:-1], confidence, side="left")
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / count
    return CalibrationBins(edges, count, mean_conf, accuracy)


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """ECE = sum over bins of |bin| / N * |accuracy(bin) - confidence(bin)|, with 15 equal-width
    bins of top-1 confidence, as in Guo et al. 2017, "On Calibration of Modern Neural Networks"."""
    bins = calibration_bins(y_true, proba, n_bins)
    full = bins.count > 0
    gaps = np.abs(bins.accuracy[full] - bins.confidence[full])
    return float(np.sum(bins.count[full] / bins.count.sum() * gaps))


def _check(y_true, proba, n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate once, with messages that say what to pass instead."""
    y_true, proba = np.asarray(y_true), np.asarray(proba, dtype=np.float64)
    if y_true.size == 0 or proba.size == 0:
        raise PolymodalError("cannot compute classification metrics on an empty set (0 examples)")
    if proba.ndim != 2 or y_true.ndim != 1 or len(y_true) != len(proba):
        raise PolymodalError(f"expected y_true [N] and proba [N, C], got shapes {y_true.shape} and {proba.shape}")
    if n_classes is not None and proba.shape[1] != n_classes:
        raise PolymodalError(f"proba has {proba.shape[1]} columns but there are {n_classes} classes")
    if y_true.dtype.kind not in "iub" and not (y_true.dtype.kind == "f" and np.all(np.mod(y_true, 1) == 0)):
        raise PolymodalError(f"y_true must hold integer class indices, got dtype {y_true.dtype}")
    y_true = y_true.astype(np.int64)
    bad = np.flatnonzero((y_true < 0) | (y_true >= proba.shape[1]))
    if len(bad):
        raise PolymodalError(f"y_true[{bad[0]}] = {y_true[bad[0]]} is not a class index in [0, {proba.shape[1]})")
    if not np.isfinite(proba).all():
        raise PolymodalError("proba holds NaN or infinite values")
    sums = proba.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > 1e-3)
    if len(off):
        raise PolymodalError(f"proba rows must sum to 1 (row {off[0]} sums to {sums[off[0]]:.4f}); "
                             "pass softmax probabilities, not logits")
    return y_true, proba / sums[:, None]  # exact sums: float32 softmax rows are off by ~1e-7
