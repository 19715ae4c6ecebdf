"""`polymodal inspect`: the detected schema, counts, labels and problems of a table."""

from __future__ import annotations

import argparse
import json

from .common import add_schema_flags, console, overrides


def cmd_inspect(args: argparse.Namespace) -> int:
    from ..data.summary import summarize
    from ..report.console import print_summary

    summary = summarize(args.table, label=args.label, overrides=overrides(args), on_error=args.on_error,
                        skipped_path=args.skipped, check_files=not args.no_check)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
        return 1 if summary.problems and args.on_error == "error" else 0
    print_summary(console, summary)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="show the detected schema, counts, labels and problems of a table")
    p.add_argument("table", help="CSV, TSV, Parquet or JSONL file (or a folder holding table.parquet)")
    add_schema_flags(p, on_error="error")
    p.add_argument("--skipped", metavar="CSV", help="write the problems found to this CSV")
    p.add_argument("--no-check", action="store_true", help="do not open the media files")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_inspect)
