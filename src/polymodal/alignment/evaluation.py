"""Scoring an alignment: retrieval in both directions for every aligned pair, for the chosen method
(`learned`, the one served) and for every candidate fitted beside it (`methods`: contrastive heads,
CCA, Procrustes, ridge maps, the training-free ASIF baseline of Norelli et al. 2022), the
multimodal consistency score of the chosen one, and chance. Rows sharing a key are all correct answers."""

from __future__ import annotations

from itertools import combinations

import numpy as np

from ..metrics.retrieval import bidirectional, consistency_score, positives_from_keys
from ..training.data import ArrayData

KS = (1, 5, 10)


def _pairs(columns: list[str], out: dict, keys_all: np.ndarray) -> dict:
    """pair -> (rows, scores both ways, embeddings of a and b, keys) for every pair with 2+ rows."""
    found = {}
    for a, b in combinations(columns, 2):
        rows = (out[f"mask:{a}"] & out[f"mask:{b}"]).numpy()
        za, zb, keys = out[f"emb:{a}"][rows].numpy(), out[f"emb:{b}"][rows].numpy(), keys_all[rows]
        if len(keys) < 2:
            continue
        given = out.get(f"scores:{a}|{b}")  # a method that scores pairs itself (spoken.py), [rows of a, rows of b]
        similarity = za @ zb.T if given is None else given[np.ix_(rows, rows)]
        scores = bidirectional(similarity, positives_from_keys(keys, keys), KS, names=(f"{a}->{b}", f"{b}->{a}"))
        found[f"{a}|{b}"] = (scores, za, zb, keys)
    return found


def mean_recall_at_1(pairs: dict) -> float:
    recalls = [m["recall@1"] for scores, *_ in pairs.values() for m in scores.values()]
    return float(np.mean(recalls)) if recalls else 0.0


def alignment_report(columns: list[str], chosen: str, outputs: dict[str, dict], part: ArrayData) -> dict:
    """Metrics of every method in `outputs` (name -> model outputs on `part`), `chosen` as `learned`."""
    keys = part.targets.numpy()
    scored = {name: _pairs(columns, out, keys) for name, out in outputs.items()}
    report = {"method": chosen, "pairs": {}}
    for pair, (scores, za, zb, pair_keys) in scored[chosen].items():
        methods = {name: s[pair][0] for name, s in scored.items() if pair in s}
        report["pairs"][pair] = {"rows": len(pair_keys), "learned": scores, "methods": methods,
                                 "asif": methods.get("asif"), "consistency": consistency_score(za, zb),
                                 "duplicates": int(len(pair_keys) - len(np.unique(pair_keys)))}
    report["mean_recall@1"] = mean_recall_at_1(scored[chosen])
    report["methods_mean_recall@1"] = {name: mean_recall_at_1(s) for name, s in scored.items()}
    report["note"] = ("Rows with the same caption are all correct answers for each other: a query counts as a hit "
                      "when any of them is ranked within k.")
    return report


def validation_scores(columns: list[str], outputs: dict[str, dict], part: ArrayData) -> dict:
    """name -> {direction: Recall@1, ..., "mean_recall@1"} on the validation rows (the choice's evidence)."""
    keys = part.targets.numpy()
    out = {}
    for name, o in outputs.items():
        pairs = _pairs(columns, o, keys)
        out[name] = {d: m["recall@1"] for scores, *_ in pairs.values() for d, m in scores.items()}
        out[name]["mean_recall@1"] = mean_recall_at_1(pairs)
    return out
