"""`polymodal fusions`: the fusions, what each is, and their options."""

from __future__ import annotations

import argparse

from rich.table import Table as RichTable

from .common import console


def cmd_fusions(args: argparse.Namespace) -> int:
    from ..fusion.base import fusion_names
    from ..fusion.options import option_defaults, summary

    t = RichTable("name", "what", "options (default)", title="Fusions (fit --fusion NAME|all, "
                  "--fusion-option NAME.KEY=VALUE)",
                  caption="hidden and dropout are set for every model, baselines included, by fit's --hidden "
                          "(and Predictor(dropout=)); the unimodal baselines get no other option")
    for name in fusion_names():
        t.add_row(name, summary(name), ", ".join(f"{k}={v}" for k, v in option_defaults(name).items()))
    console.print(t)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("fusions", help="list the fusions, the paper behind each, and their options")
    p.set_defaults(func=cmd_fusions)
