"""`polymodal predict`: a run's predictions (and probabilities) for a table, as CSV."""

from __future__ import annotations

import argparse

import pandas as pd

from .common import console


def cmd_predict(args: argparse.Namespace) -> int:
    from ..api import load
    from ..predict.predictor import Predictor

    model = load(args.run)
    kwargs = {"with_ids": True} if isinstance(model, Predictor) else {}  # the id columns lead each row
    out = model.predict_proba(args.table, runtime=args.runtime, **kwargs)
    if args.explain:  # each row's Shapley values over modalities (predict/explain.py), beside its prediction
        if not isinstance(model, Predictor):
            from ..errors import PolymodalError

            raise PolymodalError(f"--explain covers predictor runs; {args.run} is a {model.kind} run")
        out = pd.concat([out.reset_index(drop=True), model.explain(args.table)["contributions"]], axis=1)
    if args.output:
        out.to_csv(args.output, index=False)
        console.print(f"{len(out)} predictions written to {args.output}")
    else:
        print(out.to_csv(index=False), end="")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predictions and probabilities of a run for a table")
    p.add_argument("run")
    p.add_argument("table")
    p.add_argument("-o", "--output", metavar="CSV", help="write here instead of standard output")
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch", help="fusion + head on PyTorch or ONNX "
                   "Runtime")
    p.add_argument("--explain", action="store_true", help="add each row's Shapley value per modality (shapley_*), "
                   "the base value and the explained prediction")
    p.set_defaults(func=cmd_predict)
