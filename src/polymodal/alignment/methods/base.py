"""Closed-form alignment methods and their registry.

A closed-form method solves a shared space from paired *frozen* features in one step, with no
gradient descent: on a few hundred or thousand pairs such baselines are hard to beat (CCA, ASIF).
Each is built from flat typed arguments, `columns` (sorted) and `dim` (the largest space it may
use) plus its own options, and offers:

- `fit(feats)`: `feats` maps each column to `[n, D_c]` features of the same n rows, row i of
  every column being one coupled example; it is `solve(prepare(feats))`, where `prepare` (a
  classmethod) does the work that does not depend on the options, shared by the grid;
- `embed(column, x)`: `[m, D_c]` features -> `[m, out_dim]` float32 unit rows (a row may be zero
  only where a method says so, e.g. ASIF for a sample dissimilar to every anchor);
- `tensors()` / `set_tensors()`: its solved state as named arrays (safetensors in a run, no pickle),
  `options()`: its constructor options as JSON.

`grid(columns)` lists the option sets tried; `fit_on_validation` keeps the one with the best mean
Recall@1 on validation rows. Adding a method: one file with a subclass decorated
`@register_method("name")` and one line in `_MODULES`; tests/alignment/test_methods.py picks it up.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from ...errors import PolymodalError
from ...metrics.retrieval import bidirectional, positives_from_keys
from ...registry import import_modules, registrar

Features = dict[str, np.ndarray]


class ClosedForm:
    name: str = ""

    def __init__(self, columns: list[str], dim: int) -> None:
        if len(columns) < 2:
            raise PolymodalError(f"a shared space needs at least two columns, got {columns}")
        self.columns, self.dim = sorted(columns), int(dim)

    @classmethod
    def grid(cls, columns: list[str]) -> list[dict]:
        """Option sets tried on validation (the first is the default when there is no validation)."""
        return [{}]

    def options(self) -> dict:
        return {}

    @classmethod
    def prepare(cls, feats: Features):
        return feats

    def solve(self, prepared) -> None:
        raise NotImplementedError

    def fit(self, feats: Features):
        self.solve(self.prepare(feats))
        return self

    def embed(self, column: str, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def out_dim(self) -> int:
        raise NotImplementedError

    def tensors(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def set_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _check(self, column: str, x: np.ndarray, width: int) -> np.ndarray:
        if column not in self.columns:
            raise PolymodalError(f"this {self.name} space embeds {', '.join(self.columns)}; not {column!r}")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != width:
            raise PolymodalError(f"{column}: expected features [n, {width}], got shape {x.shape}")
        return x


METHODS: dict[str, type[ClosedForm]] = {}
_MODULES = ("cca", "procrustes", "ridge", "asif")


register_method = registrar(METHODS)  # @register_method(name) on a class registers it


def load_all() -> None:
    """Import every module of this registry so that each registers itself."""
    import_modules(__package__, _MODULES)


def method_names() -> list[str]:
    load_all()
    return sorted(METHODS)


def build_method(name: str, columns: list[str], dim: int, **options) -> ClosedForm:
    load_all()
    if name not in METHODS:
        raise PolymodalError(f"unknown closed-form alignment method {name!r}; valid: {', '.join(method_names())}")
    return METHODS[name](columns, dim, **options)


def unit(z: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32; a zero row stays zero."""
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    return (z / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def mean_recall_at_1(space, feats: Features, keys: np.ndarray) -> float:
    """Mean Recall@1 over both directions of every pair of columns (rows with equal keys are all hits)."""
    emb = {c: space.embed(c, feats[c]) for c in space.columns}
    positives = positives_from_keys(keys, keys)
    recalls = []
    for a, b in combinations(space.columns, 2):
        scores = bidirectional(emb[a] @ emb[b].T, positives, (1,), names=("ab", "ba"))
        recalls += [scores["ab"]["recall@1"], scores["ba"]["recall@1"]]
    return float(np.mean(recalls))


def fit_on_validation(name: str, columns: list[str], dim: int, train: Features, val: Features | None = None,
                      val_keys: np.ndarray | None = None, cache: dict | None = None) -> tuple[ClosedForm, dict]:
    """Solve `name` for every option set of its grid on `train`; keep the best mean Recall@1 on `val`
    (the grid's first entry when fewer than 2 validation rows). Returns the method and each option set's
    score. `cache` (a dict kept across calls on the same `train`) shares `prepare` between methods."""
    load_all()
    grid = METHODS[name].grid(sorted(columns)) if name in METHODS else [{}]
    usable = val is not None and val_keys is not None and len(val_keys) >= 2
    best, scores = None, {}
    prepared = _prepared(METHODS.get(name), train, cache)
    for options in grid if usable else grid[:1]:
        space = build_method(name, columns, dim, **options)
        space.solve(prepared)
        score = mean_recall_at_1(space, val, val_keys) if usable else None  # JSON null, not NaN
        scores[_label(options)] = score
        if best is None or (score is not None and score > best[1]):
            best = (space, score)
    return best[0], scores


def _prepared(cls, train: Features, cache: dict | None):
    if cls is None:
        return train
    if cache is None:
        return cls.prepare(train)
    key = cls.prepare.__qualname__  # methods inheriting one prepare share its result
    if key not in cache:
        cache[key] = cls.prepare(train)
    return cache[key]


def _label(options: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in options.items()) or "default"
