"""`polymodal features extract|status`: frozen-encoder features of a table in shards, for any launcher
(torchrun, SLURM arrays, Kubernetes indexed jobs); encoders/sharded.py does the work."""

from __future__ import annotations

import argparse

from rich.table import Table as RichTable

from .common import console


def cmd_extract(args: argparse.Namespace) -> int:
    from ..encoders.materialize import parse_encoder_spec
    from ..encoders.sharded import extract_shard, parse_shard

    shard = parse_shard(args.shard)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    report = extract_shard(args.table, columns=columns, encoders=parse_encoder_spec(args.encoders), shard=shard,
                           out=args.out, progress=not args.quiet, batch_rows=args.batch_rows)
    t = RichTable("column", "encoder", "dim", "computed", "cached", "absent",
                  title=f"shard {shard.index}/{shard.count}: {report.rows} rows in {report.seconds:.1f} s")
    for column, row in report.columns.items():
        t.add_row(column, row["encoder"], str(row["dim"]), str(row["computed"]), str(row["cached"]),
                  str(row["absent"]))
    console.print(t)
    if args.out:
        console.print(f"parts and manifest in {args.out} (progress: polymodal features status {args.out})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ..encoders.sharded import features_status

    s = features_status(args.dir)
    console.print(f"{s['table']}: {s['rows_done']} of {s['rows']} rows, {s['shards_done']} of {s['shards']} shards "
                  "done" + (f"; missing shards: {', '.join(map(str, s['missing']))}" if s["missing"] else ""))
    t = RichTable("shard", "rows", "seconds", "rows/s", "computed", title="Shards done")
    for row in s["per_shard"]:
        t.add_row(str(row["index"]), str(row["rows"]), f"{row['seconds']:.1f}", f"{row['rows_per_s']:.1f}",
                  str(row["computed"]))
    console.print(t)
    return 0 if not s["missing"] else 3


def add_parser(sub) -> None:
    features = sub.add_parser("features", help="extract frozen-encoder features in shards (any launcher)",
                              description=__doc__).add_subparsers(dest="features_command", required=True,
                                                                  metavar="ACTION")
    p = features.add_parser("extract", help="one shard of a table's features, into the cache and row-aligned "
                                            "Arrow parts")
    p.add_argument("table")
    p.add_argument("--columns", help="comma list of input columns (default: every image, audio, text and video "
                                     "column)")
    p.add_argument("--encoders", help="e.g. image=efficientnet-lite0,text=minilm (role or column), as in fit")
    p.add_argument("--shard", help="i/N, counted from 0: rows [n*i/N, n*(i+1)/N) (default: RANK/WORLD_SIZE "
                                   "under torchrun, a SLURM array's task, else the whole table)")
    p.add_argument("--out", help="folder for the Arrow parts, the manifest and the shards' records")
    p.add_argument("--batch-rows", type=int, default=65_536, help="rows read at a time from a Parquet table (memory "
                   "follows this, not the shard; default 65536)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_extract)
    p = features.add_parser("status", help="progress of a sharded extraction (exit 3 while shards are missing)")
    p.add_argument("dir")
    p.set_defaults(func=cmd_status)
