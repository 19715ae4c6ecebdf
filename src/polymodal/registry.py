"""Registries import their entries lazily: one module per entry, imported on first use, so a
heavy or broken optional entry never slows down or breaks the others' users."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable


def import_modules(package: str, modules: Iterable[str]) -> None:
    """Import `package.<module>` for each module; a module missing entirely is skipped, but an import
    error from inside a module (a missing dependency of it) is raised."""
    for module in modules:
        try:
            importlib.import_module(f"{package}.{module}")
        except ModuleNotFoundError as exc:
            if not exc.name or not exc.name.startswith(f"{package}.{module}"):
                raise


def registrar(table: dict) -> Callable[[str], Callable[[type], type]]:
    """The class decorator of a registry: `@register(name)` stores the class in `table` and sets its `name`."""

    def register(name: str) -> Callable[[type], type]:
        def wrap(cls: type) -> type:
            cls.name = name
            table[name] = cls
            return cls

        return wrap

    return register


def parse_value(text: str):
    """A command-line value: JSON when it parses (numbers, booleans, lists), the string otherwise."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
