"""`polymodal data list|build`: the bundled data set recipes."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table as RichTable

from ..errors import PolymodalError
from ..registry import parse_value
from .common import console


def cmd_data_list(args: argparse.Namespace) -> int:
    from ..data.recipes import list_recipes

    t = RichTable("name", "rows", "label", "summary", "options", title="Data set recipes")
    for r in list_recipes():
        t.add_row(r.name, str(r.default_size), r.label, r.summary, ", ".join(r.knobs))
    console.print(t)
    return 0


def parse_knobs(pairs: list[str] | None) -> dict:
    knobs = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise PolymodalError(f"--set expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        knobs[key] = parse_value(value)
    return knobs


def cmd_data_build(args: argparse.Namespace) -> int:
    from ..data.recipes import build
    from ..paths import data_home

    out = Path(args.out) if args.out else data_home() / args.name
    with console.status(f"building {args.name} into {out} ..."):
        path = build(args.name, out, size=args.size, seed=args.seed, force=args.force, **parse_knobs(args.set))
    console.print(f"[green]built[/] {path} (card: {path.parent / 'DATACARD.md'})")
    return 0


def add_parser(sub) -> None:
    data = sub.add_parser("data", help="build the bundled data set recipes").add_subparsers(
        dest="data_command", required=True, metavar="ACTION")
    p = data.add_parser("list", help="list the recipes")
    p.set_defaults(func=cmd_data_list)
    p = data.add_parser("build", help="build a recipe into a folder (cached: re-running is instant)")
    p.add_argument("name")
    p.add_argument("--out", help="folder (default: $POLYMODAL_HOME/data/NAME)")
    p.add_argument("--size", type=int, help="number of rows (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a recipe option (see data list)")
    p.set_defaults(func=cmd_data_build)
