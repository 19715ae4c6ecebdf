"""Regression metrics (scikit-learn), as plain floats."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from ..errors import PolymodalError


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """MAE, RMSE and R² of `y_pred` against `y_true` (both `[N]`, or `[N, K]` averaged over K).

    R² is None for fewer than two examples, where it is undefined.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.size == 0:
        raise PolymodalError("cannot compute regression metrics on an empty set (0 examples)")
    if y_true.shape != y_pred.shape or y_true.ndim > 2:
        raise PolymodalError(f"y_true and y_pred must have the same shape [N] or [N, K], "
                             f"got {y_true.shape} and {y_pred.shape}")
    if not (np.isfinite(y_true).all() and np.isfinite(y_pred).all()):
        raise PolymodalError("y_true or y_pred holds NaN or infinite values")
    n = len(y_true)
    return {"n": n, "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            # sqrt of the MSE rather than root_mean_squared_error, which needs scikit-learn >= 1.4
            "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
            "r2": float(skm.r2_score(y_true, y_pred)) if n >= 2 else None}
