"""`polymodal evaluate`: a run's metrics on a labelled table (any run kind)."""

from __future__ import annotations

import argparse
import json

from ..errors import PolymodalError
from .common import print_metrics


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..api import load

    model = load(args.run)
    if args.exclude_seen and model.kind != "predictor":
        raise PolymodalError(f"--exclude-seen applies to predictor runs; {args.run} is a {model.kind} run")
    options = {k: v for k, v in (("drop", args.drop), ("exclude_seen", args.exclude_seen)) if v}
    metrics = model.evaluate(args.table, **options)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        shown = {k: v for k, v in metrics.items() if not isinstance(v, list | dict)}
        print_metrics(shown, f"{args.run} on {args.table}" + (f" without {', '.join(args.drop)}" if args.drop else ""))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics of a run on a labelled table")
    p.add_argument("run")
    p.add_argument("table")
    p.add_argument("--drop", action="append", metavar="MODALITY", help="hide a modality (column or role)")
    p.add_argument("--exclude-seen", action="store_true", help="leave out the rows the run was fitted on "
                   "(training or selection; predictor runs): without it they are counted in a warning")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
