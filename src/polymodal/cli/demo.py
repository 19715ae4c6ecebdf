"""`polymodal demo`: the main job on the built-in data (build it, inspect it, report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import console


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(out=Path(args.out), console=console)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="the main job on the built-in data: build it, inspect it, report")
    p.add_argument("--out", default="polymodal-demo", help="output folder (default: ./polymodal-demo)")
    p.set_defaults(func=cmd_demo)
