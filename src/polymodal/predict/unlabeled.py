"""Rows whose label cells are all empty (`unlabeled="ignore"|"use"`, `--unlabeled`).

They are never an error and never scored. With "ignore" (the default) they are set aside and counted. With
"use" they feed self-training (pseudo-labelling; Lee 2013, "Pseudo-Label", after Yarowsky 1995): the model
chosen on validation labels them, the rows it labels confidently join the training rows with those labels,
every candidate is fitted again (as `NAME+pseudo`), and the choice is made again on the same labelled
validation rows over both rounds. A pseudo-labelled candidate is saved only when
it beats every first-round candidate there, so using unlabeled rows never ships a model that is worse on
validation than ignoring them.

"Confidently" is measured, not assumed: models differ in calibration (a strongly regularised probe on a
small table gives 0.55 where LightGBM gives 0.999 to the same easy rows), so a fixed probability cut keeps
nothing from one and everything from the other. The cut is the lowest probability at which the chosen
model's validation rows, taken from the most confident down, are still right at least `PRECISION` of the
time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..data.table import Table
from ..data.validate import is_missing
from ..errors import PolymodalError
from ..tasks import Classification, Task
from ..training.augment import VIEWS
from ..training.data import ArrayData
from ..training.loop import predict_logits
from .fitting import Candidate

logger = logging.getLogger("polymodal")
POLICIES = ("ignore", "use")
# the share of right labels, on validation, among the rows above the confidence cut: a wrong pseudo-label in
# twenty; one in ten (0.9) kept more rows but taught the second round its own mistakes
PRECISION = 0.95
SUFFIX = "+pseudo"


def check_unlabeled(policy: str, bag_folds: int) -> None:
    if policy not in POLICIES:
        raise PolymodalError(f"unknown unlabeled policy {policy!r}; valid: {', '.join(POLICIES)}")
    if policy == "use" and bag_folds:
        raise PolymodalError("unlabeled='use' (--unlabeled use) cannot be combined with bag_folds yet: bagging "
                             "pools the training rows into its folds, and pseudo-labelled rows must never score "
                             "a candidate; choose one of them")


def check_task(policy: str, task: Task) -> None:
    if policy == "use" and not isinstance(task, Classification):
        raise PolymodalError(f"unlabeled='use' pseudo-labels rows for single-label classification; this fit's task "
                             f"is {task.kind}. Use unlabeled='ignore' (--unlabeled ignore)")


def set_aside(table: Table, labels: list[str]) -> tuple[Table, Table]:
    """(`table`'s rows with at least one label cell filled, its rows with none), each in the table's order."""
    present = [c for c in labels if c in table.df.columns]
    if not present:
        return table, Table(table.df.iloc[:0], table.base_dir, table.source)
    empty = table.df[present].apply(lambda col: col.map(is_missing)).all(axis=1).to_numpy()
    kept = Table(table.df[~empty].reset_index(drop=True), table.base_dir, table.source)
    return kept, Table(table.df[empty].reset_index(drop=True), table.base_dir, table.source)


def confidence_cut(model: torch.nn.Module, val: ArrayData) -> float:
    """The lowest probability at which `model`'s validation rows, most confident first, are still right at
    least PRECISION of the time (infinity when even its most confident row is wrong)."""
    confidence, pred = torch.softmax(predict_logits(model, val).float(), 1).max(1)
    order = torch.argsort(confidence, descending=True)
    right = (pred == val.targets)[order].double()
    precision = torch.cumsum(right, 0) / torch.arange(1, len(right) + 1)
    ok = torch.nonzero(precision >= PRECISION).flatten()
    return float(confidence[order][ok.max()]) if len(ok) else float("inf")


def pseudo_rows(model: torch.nn.Module, unlabeled: ArrayData, cut: float) -> tuple[ArrayData, dict]:
    """The unlabeled rows `model` labels with probability >= `cut`, with those labels as targets, and what was
    kept (counts per class)."""
    proba = torch.softmax(predict_logits(model, unlabeled).float(), 1)
    confidence, label = proba.max(1)
    keep = torch.nonzero(confidence >= cut).flatten()
    rows = unlabeled.subset(keep)
    rows.targets = label[keep]
    counts = np.bincount(label[keep].numpy(), minlength=proba.shape[1]).tolist()
    return rows, {"rows": len(unlabeled), "pseudo_labelled": len(keep), "confidence": round(cut, 4),
                  "precision": PRECISION, "per_class": counts}


def self_train(p, cands: list[Candidate], best: Candidate, splits: dict[str, ArrayData], workdir: Path | None,
               resume: bool, *, stage: str = "") -> tuple[list[Candidate], Candidate, dict]:
    """The second round: every candidate fitted again with the confident pseudo-labelled rows added to the
    training rows, then the choice over both rounds (and their ensemble) on validation."""
    extra, info = pseudo_rows(best.model, p.unlabeled_arrays_, confidence_cut(best.model, splits["val"]))
    logger.info("%sself-training: %d of %d unlabeled rows pseudo-labelled by %s with probability >= %.3f (%.0f%% "
                "right on validation)", stage, info["pseudo_labelled"], info["rows"], best.name, info["confidence"],
                100 * PRECISION)
    if not len(extra):
        return cands, best, {**info, "chosen_round": 1}
    for key, views in splits["train"].inputs.items():  # cached augmented views (training/augment.py): the
        if key.endswith(VIEWS) and key not in extra.inputs:  # pseudo-labelled rows have none; plain copies
            plain = extra.inputs[key.removesuffix(VIEWS)].float()
            extra.inputs[key] = plain.unsqueeze(1).repeat(1, views.shape[1], 1)
    train = ArrayData.concat([splits["train"], extra])
    second = p._train_all({**splits, "train": train}, workdir / "pseudo" if workdir is not None else None, resume,
                          stage=f"{stage}pseudo:")
    for c in second:
        c.name += SUFFIX
        for part in c.parts:
            part["name"] += SUFFIX
    both = [c for c in cands if c.kind != "ensemble"] + second
    chosen = p._select(both, splits)
    return both, chosen, {**info, "chosen_round": 2 if chosen.name.endswith(SUFFIX) or _uses_second(chosen)
                          else 1}


def _uses_second(chosen: Candidate) -> bool:
    return any(part["name"].endswith(SUFFIX) for part in chosen.parts)


def summary_text(info: dict | None) -> str:
    """One sentence for the report on what the unlabeled rows did."""
    if not info or not info.get("rows"):
        return ""
    if info.get("policy") == "ignore":
        return (f"{info['rows']} row(s) had no label and were set aside (unlabeled='ignore'; `--unlabeled use` "
                "pseudo-labels them).")
    return (f"{info['rows']} row(s) had no label: the first round's chosen model labelled {info['pseudo_labelled']} "
            f"of them with probability ≥ {info['confidence']:.3f} (the cut above which at least "
            f"{info['precision']:.0%} of its validation rows were right), every candidate was fitted again with "
            f"them (`+pseudo`), and the saved model is from round {info['chosen_round']}.")
