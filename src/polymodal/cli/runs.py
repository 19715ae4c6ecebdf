"""`polymodal runs compare`: the metrics of several run directories side by side."""

from __future__ import annotations

import argparse

from .common import console


def cmd_runs_compare(args: argparse.Namespace) -> int:
    from ..api import compare_runs
    from ..report.console import print_comparison

    print_comparison(console, compare_runs(args.runs), "", title="Runs")
    return 0


def add_parser(sub) -> None:
    runs = sub.add_parser("runs", help="work with run directories").add_subparsers(
        dest="runs_command", required=True, metavar="ACTION")
    p = runs.add_parser("compare", help="compare the metrics of several runs")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_runs_compare)
