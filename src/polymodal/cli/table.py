"""`polymodal table convert|scan`: tables larger than memory, streamed with pyarrow (data/stream.py)."""

from __future__ import annotations

import argparse

from rich.table import Table as RichTable

from .common import console


def cmd_convert(args: argparse.Namespace) -> int:
    from ..data.stream import convert

    done = convert(args.src, args.dst, row_group_rows=args.row_group_rows)
    console.print(f"{args.dst}: {done['rows']} rows in {done['row_groups']} row groups of {args.row_group_rows} "
                  f"({done['seconds']:.1f} s)")
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from ..data.stream import scan

    r = scan(args.table, label=args.label, skipped=args.skipped, batch_rows=args.batch_rows,
             check_media=not args.no_media)
    console.print(f"{args.table}: {r.rows} rows in {r.batches} batches ({r.seconds:.1f} s): {r.kept} kept, "
                  f"{r.skipped_rows} skipped" + (f" (reasons in {r.skipped_file})" if r.skipped_file else ""))
    t = RichTable("column", "role", "why", title="Schema (from the first rows)")
    for c in r.schema.columns:
        t.add_row(c.name, c.role, c.reason)
    console.print(t)
    console.print("split: " + ", ".join(f"{k} {v}" for k, v in sorted(r.splits.items())))
    if args.label:
        console.print(f"{args.label}: {len(r.labels)} classes; most common: "
                      + ", ".join(f"{k} ({v})" for k, v in r.labels.most_common(10)))
    return 0


def add_parser(sub) -> None:
    table = sub.add_parser("table", help="tables larger than memory: convert to Parquet, scan in batches",
                           description=__doc__).add_subparsers(dest="table_command", required=True, metavar="ACTION")
    p = table.add_parser("convert", help="CSV/TSV/Parquet -> Parquet with even row groups, streaming")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--row-group-rows", type=int, default=100_000)
    p.set_defaults(func=cmd_convert)
    p = table.add_parser("scan", help="schema, validation, split and label counts of a big Parquet table, in batches")
    p.add_argument("table")
    p.add_argument("--label")
    p.add_argument("--skipped", help="where the problems go (default: TABLE.skipped.csv beside the table)")
    p.add_argument("--batch-rows", type=int, default=65_536)
    p.add_argument("--no-media", action="store_true", help="do not decode image/audio/video files (faster)")
    p.set_defaults(func=cmd_scan)
