"""Constructor options of the fusions one fit trains.

Two forms, both JSON-able (they are recorded in the run directory):

- flat, ``{"gate_rank": 0}``: every fusion the fit trains gets these options, so each must accept
  them (the usual form with a single ``fusion="gated"``);
- per fusion, ``{"gated": {"gate_rank": 0}, "attention": {"width": 32}}``: each fusion gets its own
  set, the rest keep their defaults (the form for ``fusion="all"``).

The unimodal baselines (concat over one column) get none of them: they are the fixed reference the
fused models are compared with, built with the fit's `hidden` and `dropout` like every model, so set
those two through `Predictor(hidden=, dropout=)` (`--hidden`) to change them everywhere. On the
command line: ``--fusion-option [FUSION.]KEY=VALUE``.
"""

from __future__ import annotations

import inspect
import math

from ..errors import PolymodalError
from .base import FUSIONS, build_fusion, fusion_names

SET_BY_CONSTRUCTION = ("in_dims", "out_dim")


def option_names(name: str) -> list[str]:
    """The options fusion `name` accepts by keyword (its constructor's, less the sizes the model sets)."""
    fusion_names()  # fills the registry
    params = list(inspect.signature(FUSIONS[name].__init__).parameters.values())[1:]  # without self
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.name not in SET_BY_CONSTRUCTION]


def _takes_any_keyword(name: str) -> bool:
    params = inspect.signature(FUSIONS[name].__init__).parameters.values()
    return any(p.kind is p.VAR_KEYWORD for p in params)


def option_defaults(name: str) -> dict:
    """Each option of fusion `name` with its default value."""
    fusion_names()
    params = inspect.signature(FUSIONS[name].__init__).parameters
    return {k: params[k].default for k in option_names(name)}


def summary(name: str) -> str:
    """The first line of the fusion's module docstring: what it is and whose paper."""
    import sys

    doc = sys.modules[FUSIONS[name].__module__].__doc__ or FUSIONS[name].__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def is_per_fusion(options: dict | None) -> bool:
    """True for the per-fusion form: a dict of dicts keyed by fusion name."""
    return bool(options) and any(isinstance(v, dict) for v in options.values())


def options_for(options: dict | None, name: str) -> dict:
    """The options fusion `name` is built with under `options` (either form)."""
    if not options:
        return {}
    if is_per_fusion(options):
        return dict(options.get(name, {}))
    return dict(options)


def check_options(options: dict | None, trained: list[str], base: dict | None = None) -> None:
    """Raise a `PolymodalError` before any training if `options` names an unknown fusion, a fusion this
    fit does not train, an option a fusion does not take, or a value its constructor rejects (each
    trained fusion is built once on two tiny inputs, with `base` (hidden, dropout) under its options)."""
    if not options:
        return
    valid = fusion_names()
    if is_per_fusion(options):
        flat = [k for k, v in options.items() if not isinstance(v, dict)]
        if flat:
            raise PolymodalError(f"fusion options mix the per-fusion form with flat options ({', '.join(flat)}): "
                                 "give every option under its fusion, e.g. {'gated': {'gate_rank': 0}}")
        for name in options:
            if name not in valid:
                raise PolymodalError(f"fusion options for unknown fusion {name!r}; valid: {', '.join(valid)}")
            if name not in trained:
                raise PolymodalError(f"fusion options for {name!r}, which this fit does not train "
                                     f"(it trains {', '.join(trained)})")
    for name in trained:
        accepted = option_names(name)
        unknown = [] if _takes_any_keyword(name) else [k for k in options_for(options, name) if k not in accepted]
        if unknown:
            owners = [f for f in valid if unknown[0] in option_names(f)]
            hint = "" if is_per_fusion(options) or not owners else (
                f"; {unknown[0]!r} is an option of {', '.join(owners)}: give it to that fusion alone, e.g. "
                f"{{{owners[0]!r}: {{{unknown[0]!r}: ...}}}} (CLI: --fusion-option {owners[0]}.{unknown[0]}=VALUE)")
            raise PolymodalError(f"fusion {name!r} has no option {', '.join(map(repr, unknown))}; its options: "
                                 f"{', '.join(accepted)}{hint}")
        _try_build(name, {**(base or {}), **options_for(options, name)})


def _try_build(name: str, kwargs: dict) -> None:
    """Build fusion `name` on two 4-wide inputs, so that a bad value fails now and not after the features
    are extracted and the fusions before it trained. The global random state is left as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        try:
            build_fusion(name, in_dims={"a": 4, "b": 4}, out_dim=2, **kwargs)
        except PolymodalError as exc:
            raise PolymodalError(f"fusion {name!r} with options {kwargs}: {exc}") from None
        except (TypeError, ValueError, RuntimeError) as exc:
            raise PolymodalError(f"fusion {name!r} cannot be built with options {kwargs}: {exc}") from None


def parse_cli(items: list[str] | None) -> dict:
    """`--fusion-option` values, ``KEY=VALUE`` or ``FUSION.KEY=VALUE``, as an options dict. Values are read
    as int, float, true/false, or else kept as text."""
    flat: dict = {}
    per: dict[str, dict] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        fusion, dot, option = (part.strip() for part in key.rpartition("."))
        if not sep or not option or (dot and not fusion):
            raise PolymodalError(f"--fusion-option {item!r}: expected KEY=VALUE or FUSION.KEY=VALUE")
        target = per.setdefault(fusion, {}) if dot else flat
        if option in target:
            raise PolymodalError(f"--fusion-option {item!r}: {key.strip()} is given twice")
        target[option] = _value(raw.strip())
    if flat and per:
        raise PolymodalError("--fusion-option: give every option as FUSION.KEY=VALUE, or every one as KEY=VALUE "
                             "(the latter reach every fusion trained)")
    return per or flat


def _value(raw: str) -> int | float | bool | str:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    if not math.isfinite(number):
        raise PolymodalError(f"--fusion-option value {raw!r}: not a finite number")
    return number
