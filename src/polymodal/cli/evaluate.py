"""`polymodal evaluate`: a run's metrics on a labelled table (any run kind)."""

from __future__ import annotations

import argparse
import json

from ..errors import PolymodalError
from .common import console, print_metrics


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..api import load

    model = load(args.run)
    if args.exclude_seen and model.kind != "predictor":
        raise PolymodalError(f"--exclude-seen applies to predictor runs; {args.run} is a {model.kind} run")
    if args.attack:  # a robustness curve: the metric under attack at each budget (predict/attack.py)
        if model.kind != "predictor":
            raise PolymodalError(f"--attack applies to predictor runs; {args.run} is a {model.kind} run")
        try:
            epsilons = [float(e) for e in args.epsilon.split(",")]
        except ValueError:
            raise PolymodalError(f"--epsilon takes numbers separated by commas, got {args.epsilon!r}") from None
        curve = model.robustness(args.table, attack=args.attack, epsilons=epsilons, exclude_seen=args.exclude_seen)
        if args.json:
            print(curve.to_json(orient="records", indent=2))
        else:
            console.print(curve.round(4).to_string(index=False))
        return 0
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
    p.add_argument("--attack", choices=("fgsm", "pgd"), help="a robustness curve: the metric with the continuous "
                   "inputs attacked, all at once and each modality alone (predictor runs)")
    p.add_argument("--epsilon", default="0.05,0.1,0.2", help="the attack's budgets, shares of each input column's "
                   "standard deviation, comma-separated (default 0.05,0.1,0.2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
