"""Scoring an alignment: retrieval in both directions for every aligned pair, the multimodal
consistency score, and the training-free ASIF baseline (Norelli et al. 2022) on the same rows,
with the train rows as its anchors. Rows sharing a caption are all correct answers."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch

from ..encoders.materialize import is_cached
from ..metrics.retrieval import bidirectional, consistency_score, positives_from_keys
from ..training.data import ArrayData
from .asif import ASIF

KS = (1, 5, 10)


def _pair_rows(masks: dict, a: str, b: str) -> np.ndarray:
    return (masks[a] & masks[b]).numpy() if isinstance(masks[a], torch.Tensor) else masks[a] & masks[b]


def _asif(aligner, part: ArrayData, train: ArrayData, a: str, b: str, rows: np.ndarray, keys) -> dict | None:
    """ASIF needs the raw features of both columns: only possible when both are cached."""
    if not (is_cached(aligner.encoders_[a]) and is_cached(aligner.encoders_[b])):
        return None
    anchor_rows = _pair_rows(train.masks, a, b)
    if anchor_rows.sum() < 2:
        return None
    asif = ASIF(train.inputs[a][anchor_rows].numpy(), train.inputs[b][anchor_rows].numpy())
    sim = asif.similarity(part.inputs[a][rows].numpy(), part.inputs[b][rows].numpy())
    return bidirectional(sim, positives_from_keys(keys, keys), KS, names=(f"{a}->{b}", f"{b}->{a}"))


def alignment_report(aligner, out: dict, part: ArrayData, train: ArrayData | None) -> dict:
    keys_all = part.targets.numpy()
    report, recalls = {"pairs": {}}, []
    for a, b in combinations(aligner.columns_, 2):
        rows = _pair_rows({c: out[f"mask:{c}"] for c in (a, b)}, a, b)
        za, zb, keys = out[f"emb:{a}"][rows].numpy(), out[f"emb:{b}"][rows].numpy(), keys_all[rows]
        if len(keys) < 2:
            continue
        learned = bidirectional(za @ zb.T, positives_from_keys(keys, keys), KS, names=(f"{a}->{b}", f"{b}->{a}"))
        entry = {"rows": len(keys), "learned": learned, "consistency": consistency_score(za, zb)}
        if train is not None:
            entry["asif"] = _asif(aligner, part, train, a, b, rows, keys)
        entry["duplicates"] = int(len(keys) - len(np.unique(keys)))
        report["pairs"][f"{a}|{b}"] = entry
        recalls += [learned[f"{a}->{b}"]["recall@1"], learned[f"{b}->{a}"]["recall@1"]]
    report["mean_recall@1"] = float(np.mean(recalls)) if recalls else 0.0
    report["note"] = ("Rows with the same caption are all correct answers for each other: a query counts as a hit "
                      "when any of them is ranked within k.")
    return report
