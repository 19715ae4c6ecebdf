"""k-fold bagging (`bag_folds=K`, `--bag-folds K`): every candidate fitted K times, and chosen on its
out-of-fold predictions.

The training and validation rows are pooled and cut into K folds (stratified on the label for
classification; rows that share a media file are kept in one fold, data/groups.py). Fold k's models train
on the other K-1 folds and early-stop (or pick their strength, their k, their number of rounds) on fold
k; their predictions on fold k are that candidate's out-of-fold
predictions. So every pooled row trains K-1 of a candidate's models and scores the K-th:
- a candidate's validation figures are its out-of-fold metrics over all pooled rows, not over the 15% a
  single split holds out, and ensemble selection (predict/selection.py) weighs candidates on those same
  out-of-fold probabilities;
- the saved candidate is the bag: its K models with equal weights (`WeightedEnsemble`, probabilities
  averaged), which has seen every pooled row.
This is AutoGluon's recipe for small tables (Erickson et al. 2020, "AutoGluon-Tabular", section 3). The
out-of-fold figures are slightly optimistic, since each fold both stopped and scored its models; the test
rows are never pooled, so the test figures are not.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..data.splits import fold_rows
from ..errors import PolymodalError
from ..tasks import Classification, Task
from ..training.data import ArrayData
from ..training.loop import predict_logits
from .fitting import Candidate, score
from .weighted import WeightedEnsemble

logger = logging.getLogger("polymodal")


def check_bag_folds(bag_folds: int) -> None:
    if isinstance(bag_folds, bool) or not isinstance(bag_folds, int) or bag_folds == 1 or bag_folds < 0:
        raise PolymodalError(f"bag_folds must be 0 (no bagging) or a whole number of at least 2, got {bag_folds!r}")


def combine_for(task: Task) -> str:
    """How a bag averages its members: probabilities for single-label classification, raw outputs else."""
    return "proba" if isinstance(task, Classification) else "mean"


def bag(p, splits: dict[str, ArrayData], workdir: Path | None, resume: bool, *, stage: str = "") -> list[Candidate]:
    """`p`'s candidates, each bagged over `p.bag_folds` folds of the pooled training and validation rows of
    `splits`; each scored out-of-fold (`val`) and, as a bag, on `splits["test"]`."""
    pool = ArrayData.concat([splits["train"], splits["val"]])
    strat = pool.targets.numpy() if isinstance(p.task_, Classification) else None
    if len(pool) < p.bag_folds:
        raise PolymodalError(f"{p.bag_folds}-fold bagging needs at least {p.bag_folds} training and validation "
                             f"rows; this fit has {len(pool)}")
    # rows sharing a media file stay in one fold (data/groups.py): else a fold scores rows whose very file it
    # trained on, and the out-of-fold figures reward memory
    groups = pool.groups.numpy() if pool.groups is not None else None
    held_out = fold_rows(len(pool), strat, folds=p.bag_folds, seed=p.seed, groups=groups)
    folds: list[list[Candidate]] = []
    for k, held in enumerate(held_out):
        rest = np.setdiff1d(np.arange(len(pool)), held)
        logger.info("%sbag fold %d/%d: %d training, %d stopping rows", stage, k + 1, len(held_out), len(rest),
                    len(held))
        fold = {"train": pool.subset(torch.as_tensor(rest)), "val": pool.subset(torch.as_tensor(held))}
        where = workdir / "bag" / f"fold{k + 1}" if workdir is not None else None
        with p.budget_.share(len(held_out) - k):  # a time limit: each fold an equal share of what is left
            folds.append(p._train_once(fold, where, resume, stage=f"{stage}bag{k + 1}:"))
    return [_bagged(p.task_, [fold[i] for fold in folds], held_out, pool, splits.get("test"), p._parts_of)
            for i in range(len(folds[0]))]


def _bagged(task: Task, models: list[Candidate], held_out: list[np.ndarray], pool: ArrayData,
            test: ArrayData | None, parts_of) -> Candidate:
    """One candidate from its K fold fits: the bag as its model, out-of-fold metrics as `val`."""
    first = models[0]
    if any(m.name != first.name for m in models):  # every fold fits the same list, in the same order
        raise AssertionError(f"bag folds disagree on the candidates: {[m.name for m in models]}")
    oof = None
    for cand, held in zip(models, held_out, strict=True):
        logits = predict_logits(cand.model, pool.subset(torch.as_tensor(held)))
        if oof is None:
            oof = torch.zeros(len(pool), *logits.shape[1:], dtype=logits.dtype)
        oof[torch.as_tensor(held)] = logits
    weight = 1.0 / len(models)
    out = Candidate(first.name, first.kind, first.fusion, first.columns,
                    model=WeightedEnsemble([m.model for m in models], [weight] * len(models), combine_for(task)),
                    history=first.history, seconds=sum(m.seconds for m in models),
                    best_epoch=int(np.median([m.best_epoch for m in models])),
                    parts=[{**parts_of(m), "weight": weight} for m in models], selection=(oof, pool.targets))
    score(out, task, {"test": test} if test is not None else {})
    return out
