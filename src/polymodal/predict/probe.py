"""The linear probe candidate: scikit-learn's logistic regression (classification) or ridge regression
(regression) on every cached modality's standardised features plus presence bits, its regularisation
chosen on the validation rows, the coefficients copied into a `linear` fusion (fusion/linear.py).

This is the simple model a user would otherwise fit by hand on our cached features, so it is always in
the comparison and is chosen when it is best on validation. Fitted by scikit-learn rather than by our
training loop: L-BFGS on the convex problem finds the optimum in seconds, where gradient descent with
early stopping stops short of it on small tables.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch

from ..encoders.materialize import is_cached
from ..tasks import Classification, Regression, Task
from ..training.data import ArrayData
from ..training.loop import predict_logits
from .fitting import Candidate, build_model

NAME = "linear-probe"
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # inverse L2 strength for logistic regression, on standardised features
ALPHA_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)  # L2 strength for ridge


def probe_columns(encoders: dict, columns: list[str]) -> list[str]:
    """The columns a probe can read: those with fixed (cached) features. Trainable encoders have none."""
    return [c for c in columns if is_cached(encoders[c])]


def supports(task: Task) -> bool:
    return isinstance(task, Classification | Regression)


def fit_probe(task: Task, data: dict[str, ArrayData], encoders: dict, columns: list[str], *, seed: int = 0
              ) -> Candidate:
    """The fitted probe over `columns`, with the regularisation that scored best on validation."""
    started = time.time()
    model = build_model("linear", columns, encoders, task.out_dim, hidden=1, dropout=0.0, modality_dropout=0.0,
                        seed=seed)
    fusion = model.fusion
    train = data["train"].only(columns)
    val = data["val"].only(columns)
    fusion.standardise_on(train.inputs, train.masks)
    with torch.no_grad():
        x_train = fusion.design(train.inputs, train.masks).double().numpy()
    y_train = train.targets.numpy()
    history = []
    best = None
    for strength in (C_GRID if isinstance(task, Classification) else ALPHA_GRID):
        weight, bias = _solve(task, x_train, y_train, strength, seed)
        _set_weights(fusion, weight, bias)
        score = task.monitor_value(predict_logits(model, val), val.targets)
        history.append({"epoch": len(history), "strength": strength, f"val_{task.monitor}": score})
        if best is None or score > best[0]:
            best = (score, strength, weight, bias)
    _, strength, weight, bias = best
    _set_weights(fusion, weight, bias)
    return Candidate(NAME, "probe", "linear", list(columns), model=model, history=history,
                     best_epoch=next(i for i, h in enumerate(history) if h["strength"] == strength),
                     seconds=time.time() - started)


def _set_weights(fusion, weight: np.ndarray, bias: np.ndarray) -> None:
    with torch.no_grad():
        fusion.linear.weight.copy_(torch.from_numpy(weight).float())
        fusion.linear.bias.copy_(torch.from_numpy(bias).float())


def _solve(task: Task, x: np.ndarray, y: np.ndarray, strength: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights `[out_dim, width]` and bias `[out_dim]` that make the linear layer's output the model's logits."""
    if isinstance(task, Regression):
        from sklearn.linear_model import Ridge

        ridge = Ridge(alpha=strength).fit(x, y.astype(np.float64))
        return ridge.coef_.reshape(1, -1), np.atleast_1d(ridge.intercept_)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    weighted = task.imbalance in ("weighted", "focal", "sampler")
    clf = LogisticRegression(C=strength, max_iter=500, class_weight="balanced" if weighted else None,
                             random_state=seed)
    with warnings.catch_warnings():  # the best C is chosen on validation; an unconverged weak one loses there
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    weight = np.zeros((task.out_dim, x.shape[1]))
    bias = np.zeros(task.out_dim)
    if len(clf.classes_) == 2:  # one decision function: logits (0, w.x + b) give the same softmax
        weight[clf.classes_[1]], bias[clf.classes_[1]] = clf.coef_[0], clf.intercept_[0]
    else:
        weight[clf.classes_], bias[clf.classes_] = clf.coef_, clf.intercept_
    missing = np.setdiff1d(np.arange(task.out_dim), clf.classes_)
    bias[missing] = -30.0  # a class absent from the training rows: never predicted (as the neural head learns)
    return weight, bias
