"""`polymodal distill`: a smaller student learns from a fitted teacher run (predict/distill.py)."""

from __future__ import annotations

import argparse

from ..errors import PolymodalError
from .common import console
from .fit import report_predictor


def cmd_distill(args: argparse.Namespace) -> int:
    from ..predict.distill import load_teacher
    from ..predict.predictor import Predictor

    teacher = load_teacher(args.teacher)
    schema = teacher.schema_
    inputs = list(schema.modalities)
    if args.student.startswith("only:"):  # cross-modal: the student reads one of the teacher's columns
        column = args.student[5:]
        if column not in inputs:
            raise PolymodalError(f"the teacher has no input column {column!r}; its columns: {', '.join(inputs)}")
        fusion, kept = "concat", [column]
    else:
        fusion, kept = args.student, inputs
    ignored = {m: "ignore" for c in inputs if c not in kept for m in schema.members(c)}
    encoders = {c: teacher.encoders_[c].name for c in kept if schema.modalities[c] != "tabular"}
    student = Predictor(teacher.task_.column, fusion=fusion, encoders=encoders, overrides=ignored,
                        teacher=args.teacher, temperature=args.temperature, alpha=args.alpha, classical="none",
                        baselines=False, ensemble=False, **({"epochs": args.epochs} if args.epochs else {}))
    student.fit(args.table, out=args.out, overwrite=args.overwrite)
    report_predictor(student, args.out)
    d = student.distilled_
    console.print(f"student {student.best_.name}: {d['student_footprint']['size_mb']} MB, "
                  f"{d['student_footprint']['ms_per_row']} ms a row; teacher: {d['teacher_footprint']['size_mb']} MB, "
                  f"{d['teacher_footprint']['ms_per_row']} ms a row")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("distill", help="fit a small student that learns from a fitted predictor run (the teacher)")
    p.add_argument("teacher", help="the teacher's run folder")
    p.add_argument("table")
    p.add_argument("--student", default="concat", help="the student's fusion, or only:COLUMN to read one column "
                   "(cross-modal distillation)")
    p.add_argument("--out", required=True, help="the student's run folder")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--alpha", type=float, default=0.5, help="the soft targets' share of the loss")
    p.add_argument("--epochs", type=int)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_distill)
