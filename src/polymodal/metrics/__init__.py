"""Metrics per task, returned as JSON-ready dicts of plain Python values."""

from __future__ import annotations

from .classification import CalibrationBins, calibration_bins, classification_metrics, expected_calibration_error
from .multilabel import multilabel_metrics
from .regression import regression_metrics
from .retrieval import bidirectional, consistency_score, positives_from_keys, retrieval_metrics

# Metric names where smaller is better; everything else (accuracy, f1, auc, r2, neg_rmse, ...) is maximised.
_LOWER = {"ece", "mae", "mse", "rmse", "hamming_loss", "wer", "cer", "fid",
          "median_rank", "mean_rank", "chance_mean_rank"}


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of `metric` is better (losses, errors); used to pick and sort "best"."""
    name = metric.removeprefix("val_").removeprefix("train_").removeprefix("test_")
    return name.endswith("loss") or name in _LOWER


__all__ = [
    "CalibrationBins",
    "bidirectional",
    "calibration_bins",
    "classification_metrics",
    "consistency_score",
    "expected_calibration_error",
    "lower_is_better",
    "multilabel_metrics",
    "positives_from_keys",
    "regression_metrics",
    "retrieval_metrics",
]
