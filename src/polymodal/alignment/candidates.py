"""The candidates an `Aligner` compares: every closed-form method of the registry (methods/), solved
on the training rows' cached features, beside the contrastive heads; and the rule that picks one.

Closed forms need fixed features: every aligned column must use a frozen pretrained (cached)
encoder, since a trainable encoder has no features to solve with before training. They solve on
the rows where every aligned column is present, row i of each column being one coupled example."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..encoders.materialize import is_cached
from ..errors import PolymodalError
from ..training.data import ArrayData
from .methods import fit_on_validation, method_names
from .spoken import NAME as SPOKEN

CONTRASTIVE = "contrastive"
MIN_ROWS = 3  # complete training rows a closed form needs: a centred covariance of rank 2 at least
# Ties on validation go to the simpler method: fewer dimensions, nothing trained (Occam; and on a
# small validation split exact ties are common).
TIE_ORDER = ("cca", "procrustes", "ridge", "asif", SPOKEN, CONTRASTIVE)


def method_choices() -> tuple[str, ...]:
    """Valid values of `Aligner(method=...)` and `polymodal align --method`."""
    return ("auto", CONTRASTIVE, *method_names(), SPOKEN)


def check_method(method: str) -> None:
    if method not in method_choices():
        raise PolymodalError(f"unknown alignment method {method!r}; valid: {', '.join(method_choices())}")


def trainable_columns(encoders: dict) -> list[str]:
    """The aligned columns whose encoder is trainable (no cached features): closed forms need none."""
    return sorted(c for c, e in encoders.items() if not is_cached(e))


def complete_rows(part: ArrayData, columns: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Features of the rows where every column is present, and their keys."""
    rows = np.logical_and.reduce([part.masks[c].numpy() for c in columns])
    feats = {c: part.inputs[c][torch.as_tensor(rows)].double().numpy() for c in columns}
    return feats, part.targets.numpy()[rows]


def fit_closed_forms(columns: list[str], dim: int, train: ArrayData, val: ArrayData) -> tuple[dict, dict]:
    """Every registered closed form, its options chosen on `val`: ({name: space}, {name: details});
    none with fewer than `MIN_ROWS` complete training rows (nothing to solve with)."""
    feats, _ = complete_rows(train, columns)
    if len(next(iter(feats.values()))) < MIN_ROWS:
        return {}, {}
    val_feats, val_keys = complete_rows(val, columns)
    spaces, details, cache = {}, {}, {}
    for name in method_names():
        started = time.time()
        space, grid = fit_on_validation(name, columns, dim, feats, val_feats, val_keys, cache)
        spaces[name] = space
        details[name] = {"options": space.options(), "dim": space.out_dim, "seconds": round(time.time() - started, 2),
                         "grid_val_mean_recall@1": grid}
    return spaces, details


def space_outputs(space, part: ArrayData) -> dict[str, torch.Tensor]:
    """A closed form's embeddings of every column, shaped as the contrastive model's outputs
    (`emb:<col>`, `mask:<col>`); absent cells embed as zero rows and are masked out."""
    out = {}
    for c in space.columns:
        mask = part.masks[c]
        z = np.zeros((len(mask), space.out_dim), dtype=np.float32)
        rows = mask.numpy()
        if rows.any():
            z[rows] = space.embed(c, part.inputs[c][mask].double().numpy())
        out[f"emb:{c}"], out[f"mask:{c}"] = torch.from_numpy(z), mask
    return out


def choose(scores: dict[str, float], forced: str) -> tuple[str, str]:
    """(name, why): the method asked for, or under `auto` the best mean Recall@1 on validation
    (ties broken by `TIE_ORDER`)."""
    order = {n: TIE_ORDER.index(n) if n in TIE_ORDER else len(TIE_ORDER) for n in scores}
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]], kv[0]))
    listing = ", ".join(f"{n} {s:.3f}" for n, s in ranked)
    if forced != "auto":
        return forced, f"asked for (method={forced!r}); validation mean Recall@1: {listing}"
    best = ranked[0][0]
    return best, f"best validation mean Recall@1 (both directions of every pair): {listing}"
