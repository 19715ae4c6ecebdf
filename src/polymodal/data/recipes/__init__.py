"""Dataset recipes: real and synthetic multimodal data sets that build offline.

Each recipe lives in its own module and registers itself in `RECIPES`."""

from __future__ import annotations

from .base import RECIPES, Recipe, RecipeOutput, build, get_recipe, register, stratified_split

_MODULES = ("shapes", "digits", "openmoji", "icons")


def _load_all() -> None:
    """Import every recipe module so it registers itself (kept lazy: imports are slow)."""
    import importlib

    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")


def list_recipes() -> list[Recipe]:
    _load_all()
    return [RECIPES[k] for k in sorted(RECIPES)]


__all__ = ["RECIPES", "Recipe", "RecipeOutput", "build", "get_recipe", "list_recipes", "register",
           "stratified_split"]
