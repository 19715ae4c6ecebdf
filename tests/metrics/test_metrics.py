"""Metrics against values worked out by hand on tiny arrays."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from polymodal.metrics import (
    calibration_bins,
    classification_metrics,
    expected_calibration_error,
    lower_is_better,
    multilabel_metrics,
    regression_metrics,
)


def one_hot_proba(pred, n_classes: int, confidence: float = 0.8) -> np.ndarray:
    """Rows that put `confidence` on the predicted class and share the rest evenly."""
    proba = np.full((len(pred), n_classes), (1 - confidence) / (n_classes - 1))
    proba[np.arange(len(pred)), pred] = confidence
    return proba


def plain(value) -> bool:
    """Only JSON's own Python types, all the way down."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return value is None or type(value) in (int, float, str, bool)


# An imbalanced three-class case. Per class (TP, FP, FN): a (5, 1, 1), b (1, 2, 1), c (1, 0, 1).
Y_TRUE = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 0, 0, 0, 0, 1, 1, 0, 2, 1])


def test_classification_hand_computed_values():
    m = classification_metrics(Y_TRUE, one_hot_proba(Y_PRED, 3), ["a", "b", "c"])
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(0.7)
    # f1 per class: a 5/6, b 2*(1/3)(1/2)/(5/6) = 0.4, c 2/3 -> macro 0.6333; micro = accuracy.
    assert m["f1_macro"] == pytest.approx((5 / 6 + 0.4 + 2 / 3) / 3)
    assert m["f1_micro"] == pytest.approx(0.7)
    assert m["f1_macro"] != pytest.approx(m["f1_micro"], abs=0.05)
    assert m["precision_macro"] == pytest.approx((5 / 6 + 1 / 3 + 1) / 3)
    assert m["recall_macro"] == pytest.approx((5 / 6 + 1 / 2 + 1 / 2) / 3)
    assert m["balanced_accuracy"] == pytest.approx(m["recall_macro"])
    assert m["per_class"]["b"] == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": 0.4, "support": 2})
    assert m["log_loss"] == pytest.approx(-(7 * np.log(0.8) + 3 * np.log(0.1)) / 10)


def test_confusion_matrix_rows_are_true_classes_in_given_order():
    m = classification_metrics(Y_TRUE, one_hot_proba(Y_PRED, 3), ["a", "b", "c"])
    assert m["confusion_matrix"] == [[5, 1, 0], [1, 1, 0], [0, 1, 1]]
    # Row 2 (true c) has one example predicted b: column index 1, not the transpose.
    assert m["confusion_matrix"][2][1] == 1 and m["confusion_matrix"][1][2] == 0


def test_metrics_are_plain_json_values():
    m = classification_metrics(Y_TRUE, one_hot_proba(Y_PRED, 3), ["a", "b", "c"])
    assert plain(m)
    json.dumps(m, allow_nan=False)


def test_ece_on_a_constructed_case():
    # 4 examples at confidence 0.9, all right (gap 0.1); 6 at 0.6, 2 right (gap 0.6 - 1/3).
    # ECE = 0.4 * 0.1 + 0.6 * (0.6 - 1/3) = 0.2. (An unweighted mean of the gaps gives 0.183,
    # one global |accuracy - confidence| gives 0.12.)
    y_true = np.zeros(10, dtype=int)
    top = np.array([0.9] * 4 + [0.6] * 6)
    pred = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    proba = np.where(pred[:, None] == np.arange(2), top[:, None], 1 - top[:, None])
    assert expected_calibration_error(y_true, proba) == pytest.approx(0.2)
    assert classification_metrics(y_true, proba, ["x", "y"])["ece"] == pytest.approx(0.2)
    bins = calibration_bins(y_true, proba)
    assert len(bins.count) == 15 and bins.count.sum() == 10 and (bins.count > 0).sum() == 2


def test_ece_is_zero_when_confidence_matches_accuracy():
    # Confidence 0.75 and 3 of 4 right.
    proba = one_hot_proba(np.array([0, 0, 0, 0]), 2, confidence=0.75)
    assert expected_calibration_error(np.array([0, 0, 0, 1]), proba) == pytest.approx(0.0)


def test_auc_with_a_class_absent_from_y_true():
    y_true = np.array([0, 0, 1, 1])
    proba = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3]])
    m = classification_metrics(y_true, proba, ["a", "b", "c"])
    assert m["auc_classes"] == 2
    assert m["roc_auc_ovr"] == pytest.approx(1.0)
    assert m["pr_auc"] == pytest.approx(1.0)
    assert m["per_class"]["c"]["support"] == 0


def test_auc_undefined_with_one_class_present():
    m = classification_metrics(np.array([1, 1]), one_hot_proba(np.array([1, 0]), 2), ["a", "b"])
    assert m["auc_classes"] == 0 and m["roc_auc_ovr"] is None and m["pr_auc"] is None
    assert m["accuracy"] == pytest.approx(0.5)


def test_binary_auc_matches_the_usual_definition():
    y_true = np.array([0, 1, 0, 1, 1, 0])
    p1 = np.array([0.2, 0.9, 0.6, 0.4, 0.8, 0.1])
    m = classification_metrics(y_true, np.stack([1 - p1, p1], axis=1), ["neg", "pos"])
    # Pairs (pos, neg): 9 in all; the positive 0.4 loses to the negative 0.6 -> 8/9.
    assert m["roc_auc_ovr"] == pytest.approx(8 / 9)
    assert m["auc_classes"] == 2


def test_float32_softmax_passes_without_warnings():
    # A float32 softmax sums to 1 only within ~1e-7, which scikit-learn's log_loss warns about.
    logits = np.random.default_rng(0).normal(scale=5, size=(500, 3)).astype(np.float32)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics(np.arange(500) % 3, proba, ["a", "b", "c"])
    assert m["log_loss"] > 0


@pytest.mark.parametrize("y_true, proba, match", [
    (np.array([], dtype=int), np.zeros((0, 2)), "empty"),
    (np.array([0, 2]), one_hot_proba(np.array([0, 1]), 2), "class index"),
    (np.array([0, -1]), one_hot_proba(np.array([0, 1]), 2), "class index"),
    (np.array([0, 1]), np.array([[2.0, -1.0], [0.3, 0.1]]), "sum to 1"),
    (np.array([0, 1, 1]), one_hot_proba(np.array([0, 1]), 2), "shapes"),
])
def test_classification_rejects_bad_input(y_true, proba, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y_true, proba, ["a", "b"])


def test_regression_known_values():
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 5.0]))
    # One error of 1: MAE 1/4, MSE 1/4, RMSE 1/2; SS_tot = 5 -> R² = 1 - 1/5.
    assert m == pytest.approx({"n": 4, "mae": 0.25, "rmse": 0.5, "r2": 0.8})
    assert plain(m)
    with pytest.raises(ValueError, match="empty"):
        regression_metrics(np.array([]), np.array([]))
    assert regression_metrics([2.0], [3.0])["r2"] is None


Y_ML = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
P_ML = np.where(np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]) == 1, 0.9, 0.2)


def test_multilabel_known_values():
    m = multilabel_metrics(Y_ML, P_ML, ["w", "x", "y", "z"])
    assert m["subset_accuracy"] == pytest.approx(0.5)  # rows 0 and 3 exactly right
    assert m["hamming_loss"] == pytest.approx(2 / 16)  # two wrong cells of sixteen
    assert m["f1_micro"] == pytest.approx(0.8)  # TP 4, FP 1, FN 1
    # Label z is absent and never predicted: left out of the macro average and of the AUC.
    assert m["f1_macro"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert m["per_label"]["x"]["f1"] == pytest.approx(2 / 3)
    assert m["auc_labels"] == 3 and 0 <= m["roc_auc_macro"] <= 1
    assert plain(m)


def test_multilabel_threshold_is_used():
    m = multilabel_metrics(Y_ML, P_ML, ["w", "x", "y", "z"], threshold=0.95)
    assert m["subset_accuracy"] == pytest.approx(0.25)  # nothing predicted: only the empty row is right


def test_lower_is_better():
    assert lower_is_better("log_loss") and lower_is_better("val_loss") and lower_is_better("rmse")
    assert not lower_is_better("balanced_accuracy") and not lower_is_better("neg_rmse")
