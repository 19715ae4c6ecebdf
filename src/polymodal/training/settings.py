"""Checks of the settings every trainer shares (epochs, batch size, learning rate, ...).

A value that would silently train nothing (`epochs=0`), crash deep inside the loop
(`batch_size=0`) or diverge (`lr=nan`) is refused before any table is read, naming
every bad setting at once.
"""

from __future__ import annotations

import math
import numbers

from ..errors import PolymodalError


def _integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


# setting -> (test, rule shown in the error)
RULES = {
    "epochs": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "patience": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "hidden": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "dim": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "lr": (lambda v: _number(v) and v > 0, "a number > 0"),
    "weight_decay": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "temperature": (lambda v: _number(v) and v > 0, "a number > 0"),
    "dropout": (lambda v: _number(v) and 0 <= v < 1, "in [0, 1)"),
    "modality_dropout": (lambda v: _number(v) and 0 <= v < 1, "in [0, 1)"),
    "label_smoothing": (lambda v: _number(v) and 0 <= v < 1, "in [0, 1)"),
}


def check_settings(**settings) -> None:
    """Raise one PolymodalError naming every setting that breaks its rule in `RULES`."""
    unknown = [k for k in settings if k not in RULES]
    if unknown:
        raise TypeError(f"no rule for setting(s) {', '.join(unknown)}")
    bad = [f"{name}={value!r} ({RULES[name][1]})" for name, value in settings.items() if not RULES[name][0](value)]
    if bad:
        raise PolymodalError("invalid training setting(s): " + "; ".join(bad))
