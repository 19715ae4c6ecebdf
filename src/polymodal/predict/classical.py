"""The classical candidates, fitted on the same features as the neural ones and chosen when best on
validation: the linear probe (predict/probe.py), gradient-boosted trees (predict/trees.py) and k nearest
neighbours (predict/knn.py). One entry each: the name a user passes to `classical=` / `--classical`, and
the fit. Trees and neighbours are also saved models, rebuilt from model.json by `saved_model`."""

from __future__ import annotations

from collections.abc import Callable

from ..encoders.base import Encoder
from ..tasks import Task
from ..training.data import ArrayData
from .design import column_kinds
from .fitted import FittedModel
from .fitting import Candidate, score
from .knn import NearestNeighbours, fit_knn
from .probe import fit_probe, probe_columns, supports
from .trees import BoostedTrees, fit_trees

# name -> (the fit, the columns it can read)
FITS: dict[str, tuple[Callable[..., Candidate], Callable[[dict, list[str]], list[str]]]] = {
    "linear": (fit_probe, probe_columns),
    "lightgbm": (fit_trees, lambda encoders, columns: list(column_kinds(encoders, columns))),
    "knn": (fit_knn, probe_columns),
}
MODELS: dict[str, type[FittedModel]] = {"lightgbm": BoostedTrees, "knn": NearestNeighbours}
DEFAULT = "linear,lightgbm,knn"


def classical_names() -> list[str]:
    return list(FITS)


def fit_classical(name: str, task: Task, data: dict[str, ArrayData], encoders: dict[str, Encoder],
                  columns: list[str], *, seed: int = 0) -> Candidate | None:
    """Candidate `name` fitted and scored, or None where it cannot apply (a task it does not fit, no column
    with fixed features)."""
    fit, readable = FITS[name]
    usable = readable(encoders, columns)
    if not supports(task) or not usable:
        return None
    cand = fit(task, data, encoders, usable, seed=seed)
    score(cand, task, data)
    return cand


def saved_model(name: str, columns: list[str], encoders: dict[str, Encoder], out_dim: int) -> FittedModel | None:
    """An empty classical model to load saved weights into, or None when `name` is a fusion."""
    return MODELS[name](columns, encoders, out_dim) if name in MODELS else None
