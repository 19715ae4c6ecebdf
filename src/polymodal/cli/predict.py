"""`polymodal predict`: a run's predictions (and probabilities) for a table, as CSV."""

from __future__ import annotations

import argparse

import pandas as pd

from .common import console


def cmd_predict(args: argparse.Namespace) -> int:
    from ..api import load
    from ..predict.predictor import Predictor
    from ..predict.streamed import wants_stream

    model = load(args.run)
    kwargs = {"with_ids": True} if isinstance(model, Predictor) else {}  # the id columns lead each row
    if isinstance(model, Predictor) and not args.explain and wants_stream(args.stream, args.table):
        return _predict_streamed(model, args)
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


def _predict_streamed(model, args: argparse.Namespace) -> int:
    """A Parquet table larger than memory: predicted batch by batch, each batch written as it comes (Parquet or CSV
    by the output's suffix, atomically once all are in; CSV on standard output)."""
    from pathlib import Path

    from ..runs.files import atomic_write

    batches = model.predict_proba_batches(args.table, runtime=args.runtime, with_ids=True)
    if not args.output:
        for i, out in enumerate(batches):
            print(out.to_csv(index=False, header=i == 0), end="")
        return 0
    rows = 0

    def write(tmp: Path) -> None:
        nonlocal rows
        writer = None
        for i, out in enumerate(batches):
            rows += len(out)
            if Path(args.output).suffix.lower() in (".parquet", ".pq"):
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(out, preserve_index=False)
                writer = writer or pq.ParquetWriter(str(tmp), table.schema)
                writer.write_table(table)
            else:
                out.to_csv(tmp, mode="w" if i == 0 else "a", header=i == 0, index=False)
        if writer is not None:
            writer.close()

    atomic_write(args.output, write)
    console.print(f"{rows} predictions written to {args.output} (streamed)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predictions and probabilities of a run for a table")
    p.add_argument("run")
    p.add_argument("table")
    p.add_argument("-o", "--output", metavar="CSV", help="write here instead of standard output")
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch", help="fusion + head on PyTorch or ONNX "
                   "Runtime")
    p.add_argument("--stream", action=argparse.BooleanOptionalAction, help="predict a Parquet table batch by batch "
                   "(default: on from 1M rows; not with --explain)")
    p.add_argument("--explain", action="store_true", help="add each row's Shapley value per modality (shapley_*), "
                   "the base value and the explained prediction")
    p.set_defaults(func=cmd_predict)
