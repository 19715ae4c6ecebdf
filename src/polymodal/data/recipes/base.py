"""What every dataset recipe shares: a registry, seeded stratified splits, and an
atomic, cached writer for the standard table + media + DATACARD.md layout.

A recipe is a function `make(workdir, *, size, seed, **knobs) -> RecipeOutput`
that writes media files under `workdir` and returns a DataFrame whose path
columns are relative to `workdir`. `build()` runs it in a temporary folder,
adds the split column, writes `table.parquet`, `table.csv` and `DATACARD.md`,
and renames the folder into place, so an interrupted build never leaves a
half-written data set behind. A `recipe.json` records the parameters; building
again with the same parameters returns at once.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import PolymodalError
from ...runs.files import check_writable, process_alive

FORMAT_VERSION = 1


@dataclass
class RecipeOutput:
    """What a recipe's `make` returns.

    `table` holds one row per example (relative media paths). If it already has
    a `split` column the recipe chose the splits itself (for example to hold a
    voice out for test); otherwise `build` makes a stratified split on `stratify`.
    `card` maps DATACARD section titles to markdown text. `roles` names columns whose role
    detection would get wrong (a column that spells out the label, generation metadata): they go
    into `schema.yaml` beside the table, which `detect_schema` reads as default overrides.
    """

    table: pd.DataFrame
    stratify: str | None
    card: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # column -> role, written to schema.yaml


@dataclass(frozen=True)
class Recipe:
    """A registered data set recipe. Bump `version` when a change to the recipe alters its output:
    it is part of the cache key, so old builds are rebuilt instead of served."""

    name: str
    summary: str
    source: str
    license: str
    default_size: int
    label: str
    make: Callable[..., RecipeOutput]
    knobs: dict[str, str] = field(default_factory=dict)  # knob name -> help text
    version: int = 1


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    from . import _MODULES, _load_all

    if name in _MODULES and name not in RECIPES:
        importlib.import_module(f"{__package__}.{name}")  # only this one: others may be slow to import
    if name not in RECIPES:
        _load_all()
    if name not in RECIPES:
        raise PolymodalError(f"unknown data set recipe {name!r}; valid: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def stratified_split(labels: pd.Series, *, seed: int, fractions=(0.7, 0.15, 0.15)) -> np.ndarray:
    """Assign 'train'/'val'/'test' per row, the same share of each class in each split."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    for _, idx in sorted(labels.reset_index(drop=True).groupby(labels.values, sort=True).groups.items()):
        idx = np.array(sorted(idx))
        rng.shuffle(idx)
        n = len(idx)
        n_val = round(n * fractions[1])
        n_test = round(n * fractions[2])
        if n >= 3:  # every split gets at least one example of each class when possible
            n_val, n_test = max(n_val, 1), max(n_test, 1)
        n_train = n - n_val - n_test
        out[idx[:n_train]] = "train"
        out[idx[n_train:n_train + n_val]] = "val"
        out[idx[n_train + n_val:]] = "test"
    return out


def stratified_subset(labels: pd.Series, size: int, seed: int) -> np.ndarray:
    """Sorted positions of `size` rows, each class keeping its share (largest remainder).

    Every class gets at least one row when `size` leaves room for that, so small
    builds still show every group.
    """
    counts = labels.value_counts().sort_index()
    if size >= len(labels):
        return np.arange(len(labels))
    floor = 1 if size >= len(counts) else 0
    exact = counts / counts.sum() * (size - floor * len(counts))
    quota = np.floor(exact).astype(int) + floor
    order = (exact - np.floor(exact)).sort_values(ascending=False, kind="stable").index
    quota[order[: size - int(quota.sum())]] += 1
    rng = np.random.default_rng([seed, 0])
    picked = [rng.choice(np.flatnonzero(labels.to_numpy() == g), size=int(quota[g]), replace=False)
              for g in counts.index]
    return np.sort(np.concatenate(picked))


def build(name: str, out: str | Path, *, size: int | None = None, seed: int = 0,
          force: bool = False, **knobs) -> Path:
    """Build recipe `name` into folder `out`; return the path of `table.parquet`."""
    recipe = get_recipe(name)
    unknown = set(knobs) - set(recipe.knobs)
    if unknown:
        raise PolymodalError(f"recipe {name!r} has no option(s) {sorted(unknown)}; valid: {sorted(recipe.knobs)}")
    out = Path(out)
    if size is not None and size < 1:
        raise PolymodalError(f"recipe {name!r}: size must be at least 1, got {size}")
    params = {"recipe": name, "size": size if size is not None else recipe.default_size, "seed": seed,
              "knobs": knobs, "format": FORMAT_VERSION, "version": recipe.version}
    marker = out / "recipe.json"
    if not force and marker.exists() and json.loads(marker.read_text()).get("params") == params:
        return out / "table.parquet"
    check_writable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(out)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        started = time.time()
        result = recipe.make(work, size=params["size"], seed=seed, **knobs)
        table = result.table.reset_index(drop=True)
        if "split" not in table.columns:
            if result.stratify is None:
                raise PolymodalError(f"recipe {name!r} gave neither a split column nor a stratify column")
            table["split"] = stratified_split(table[result.stratify], seed=seed)
        table.to_parquet(work / "table.parquet", index=False)
        table.to_csv(work / "table.csv", index=False)
        if result.roles:
            (work / "schema.yaml").write_text(_schema_yaml(result.roles))
        seconds = time.time() - started
        (work / "DATACARD.md").write_text(_datacard(recipe, table, result, params, seconds))
        (work / "recipe.json").write_text(json.dumps({"params": params, "rows": len(table),
                                                      "seconds": round(seconds, 2)}, indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out / "table.parquet"


def _remove_dead_partials(out: Path) -> None:
    """The work folders of builds into `out` that were killed (a killed process runs no clean-up);
    a build still running in another process keeps its own."""
    for work in out.parent.glob(f".{out.name}.partial-*"):
        pid = work.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(work, ignore_errors=True)


def _schema_yaml(roles: dict[str, str]) -> str:
    import yaml

    by_role: dict[str, list[str]] = {}
    for column, role in roles.items():
        by_role.setdefault(role, []).append(column)
    head = "# Column roles polymodal's detection would get wrong; explicit --ROLE flags still win.\n"
    return head + yaml.safe_dump(by_role, sort_keys=True)


def _datacard(recipe: Recipe, table: pd.DataFrame, result: RecipeOutput, params: dict,
              seconds: float) -> str:
    counts = table.groupby("split").size().reindex(["train", "val", "test"]).fillna(0).astype(int)
    lines = [f"# {recipe.name}", "", recipe.summary, "",
             "## Source", "", recipe.source, "",
             "## License", "", recipe.license, "",
             "## Counts", "", f"- rows: {len(table)}",
             *[f"- {split}: {n}" for split, n in counts.items()], "",
             f"Default label column: `{recipe.label}`.", ""]
    if recipe.label in table.columns:
        dist = table[recipe.label].value_counts().sort_index()
        lines += ["Examples per class of `" + recipe.label + "`:", "", "| class | rows |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in dist.items()] + [""]
    lines += ["## Columns", "", "| column | example |", "|---|---|"]
    first = table.iloc[0] if len(table) else {}
    lines += [f"| `{c}` | {str(first[c])[:60] if len(table) else ''} |" for c in table.columns] + [""]
    for title, body in result.card.items():
        lines += [f"## {title}", "", body.strip(), ""]
    lines += ["## How it was built", "",
              f"`polymodal data build {recipe.name}` with parameters `{json.dumps(params)}`, "
              f"in {seconds:.1f} s. Splits are stratified and seeded (70/15/15 unless the recipe says otherwise).",
              ""]
    return "\n".join(lines)
