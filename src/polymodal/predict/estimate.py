"""Where a predictor's reported figures come from, and k-fold cross-validation of the whole selection.

Three cases, each said in so many words in the report, the model card, metrics.json and the CLI:

- `test`: rows never used for training, early stopping or choosing the fusion (the table's `test` rows,
  or a seeded 15% when it has no split column and enough rows);
- `cv`: k-fold cross-validated. Each fold runs the whole procedure on the other rows (every candidate
  trained with early stopping on a validation part of them, the best fused candidate chosen there) and
  scores the chosen model on the fold's own rows; the figure is the mean (± std) over folds. The model
  that is saved is then refitted the same way on every row;
- `val`: only validation rows, which chose the epochs and the fusion, so the figure is optimistic.

Left as is, and said here: a task's learned state (the class list, a regression target's scaling) and
trainable encoders' vocabularies are fitted once, on the final fit's training rows, which include each
fold's held-out rows. They set what the model can output, not what it learns from labels.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..data.splits import FRACTIONS, cut, fold_rows
from ..errors import PolymodalError
from ..training.data import ArrayData

logger = logging.getLogger("polymodal")
ESTIMATES = ("auto", "holdout", "cv")


def check_estimate(estimate: str, folds: int) -> None:
    if estimate not in ESTIMATES:
        raise PolymodalError(f"unknown estimate {estimate!r}; valid: {', '.join(ESTIMATES)}")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise PolymodalError(f"folds must be a whole number of at least 2, got {folds!r}")


def cross_validate(p, data: ArrayData, labels, rows: np.ndarray) -> dict:
    """Run `p`'s whole selection on each fold's other rows and score the chosen model on the fold."""
    groups = data.groups.numpy()[rows] if data.groups is not None else None  # shared files: one fold
    held_out = fold_rows(len(rows), labels, folds=p.folds, seed=p.seed, groups=groups)
    chosen, scores, by_candidate = [], [], {}
    for i, held in enumerate(held_out):
        rest = np.setdiff1d(np.arange(len(rows)), held)
        strat = np.asarray(labels)[rest] if labels is not None else None
        train, val = cut(rest, FRACTIONS["val"] / (1 - FRACTIONS["test"]), strat, p.seed,
                         groups[rest] if groups is not None else None)
        splits = {k: data.subset(torch.as_tensor(np.sort(v), dtype=torch.long))
                  for k, v in (("train", train), ("val", val), ("test", held))}
        logger.info("fold %d/%d: %d training, %d validation, %d held-out rows", i + 1, p.folds, len(train),
                    len(val), len(held))
        # the same procedure as the final fit's: the choice, the ensemble and self-training included
        with p.budget_.share(p.folds - i + 1):  # a time limit: each fold and the final fit an equal share
            candidates, best = p._fit_candidates(splits, None, False, stage=f"fold{i + 1}:")
        chosen.append(best.name)
        scores.append(_scalars(best.test))
        for c in candidates:
            by_candidate.setdefault(c.name, []).append(_scalars(c.test))
    return {"folds": p.folds, "rows": len(rows), "chosen": chosen, "per_fold": scores, **_mean_std(scores),
            "candidates": {name: _mean_std(s) for name, s in by_candidate.items()}}


def _scalars(metrics: dict) -> dict:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _mean_std(scores: list[dict]) -> dict:
    keys = [k for k in scores[0] if all(k in s for s in scores)] if scores else []
    return {"mean": {k: float(np.mean([s[k] for s in scores])) for k in keys},
            "std": {k: float(np.std([s[k] for s in scores])) for k in keys}}
