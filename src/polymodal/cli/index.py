"""`polymodal index build`, `search` and `zero-shot`: what an alignment run is for."""

from __future__ import annotations

import argparse

from rich.table import Table as RichTable

from .common import console


def cmd_index_build(args: argparse.Namespace) -> int:
    from ..alignment.search import build_index
    from ..api import load

    aligner = load(args.run)
    if args.kind == "ivfpq":
        from ..alignment.sharded_search import build_shard
        from ..encoders.sharded import parse_shard

        shard = parse_shard(args.shard)
        part = build_shard(aligner, args.table, args.column, args.out, shard=shard, train_sample=args.train_sample,
                           nlist=args.nlist, m=args.m, nbits=args.nbits)
        console.print(f"index {args.out}: shard {shard.index}/{shard.count} written to {part}; once every shard is "
                      f"built: polymodal index merge {args.out}")
        return 0
    if args.shard:
        from ..errors import PolymodalError

        raise PolymodalError("--shard builds an IVF-PQ index in parts: pass --kind ivfpq (the other kinds are built "
                             "whole, by one process)")
    if args.add:
        index = build_index(aligner, args.table, args.column, add_to=args.out)
    else:
        index = build_index(aligner, args.table, args.column, args.out, kind=args.kind)
    console.print(f"index {args.out}: {len(index)} vectors of {index.dim} dimensions ({index.kind})")
    return 0


def cmd_index_merge(args: argparse.Namespace) -> int:
    from ..index.sharded import ShardedIndex, merge

    header = merge(args.index)
    size = ShardedIndex.load(args.index).bytes_per_vector()
    console.print(f"index {args.index}: {header['vectors']} vectors from {header['shards']} shard(s) merged in "
                  f"{header['merge_seconds']:.1f} s, {size:.0f} bytes a vector (exact vectors for re-ranking aside)")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from ..alignment.search import search

    hits = search(args.index, text=args.text, image=args.image, audio=args.audio, k=args.k)
    meta = [c for c in hits.columns if c not in ("rank", "score", "table_row", "split")]
    shown = ["rank", "score", *(args.columns.split(",") if args.columns else meta[:4])]
    t = RichTable(*shown, title=f"top {len(hits)}")
    for row in hits[shown].itertuples(index=False):
        t.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(t)
    if args.html:
        from ..report.contact_sheet import contact_sheet

        path = contact_sheet(hits, args.html, query=args.text or args.image or args.audio)
        console.print(f"contact sheet: {path}")
    return 0


def cmd_zero_shot(args: argparse.Namespace) -> int:
    from ..alignment.zero_shot import zero_shot
    from ..api import load

    result = zero_shot(load(args.run), args.table, label=args.label, column=args.column)
    console.print(f"zero-shot accuracy of {args.column!r} -> {args.label!r}: {result['accuracy']:.3f} on "
                  f"{result['n']} rows, {result['classes']} classes (chance {result['chance']:.3f})")
    if args.output:
        import pandas as pd

        pd.DataFrame({"prediction": result["predictions"]}).to_csv(args.output, index=False)
    return 0


def add_parser(sub) -> None:
    index = sub.add_parser("index", help="vector indexes for search").add_subparsers(
        dest="index_command", required=True, metavar="ACTION")
    p = index.add_parser("build", help="embed a table's column with an alignment run into a FAISS index")
    p.add_argument("run", help="an alignment run directory (polymodal align)")
    p.add_argument("table")
    p.add_argument("--column", required=True, help="the column to embed (one of the run's aligned columns)")
    p.add_argument("--out", required=True, help="index folder")
    p.add_argument("--kind", choices=("flat", "hnsw", "ivf", "ivfpq"), default="flat",
                   help="flat is exact (default); ivfpq: compressed, built in shards, re-ranked exactly")
    p.add_argument("--add", action="store_true", help="append to the existing index at --out")
    p.add_argument("--shard", help="ivfpq: i/N, rows [n*i/N, n*(i+1)/N) (default: RANK/WORLD_SIZE, a SLURM "
                                   "array's task, else the whole table)")
    p.add_argument("--train-sample", type=int, default=100_000,
                   help="ivfpq: rows drawn from the whole table to train the quantizer (default 100000)")
    p.add_argument("--nlist", type=int, help="ivfpq: inverted lists (default about 4*sqrt(train sample))")
    p.add_argument("--m", type=int, help="ivfpq: sub-quantizers, codes per vector (default 32 where it divides)")
    p.add_argument("--nbits", type=int, default=8, help="ivfpq: bits per code (default 8; training wants 39 "
                                                        "sample rows per code, 9984 at 8 bits)")
    p.set_defaults(func=cmd_index_build)

    p = index.add_parser("merge", help="merge the shards of an ivfpq index (on disk) so it can be searched")
    p.add_argument("index")
    p.set_defaults(func=cmd_index_merge)

    p = sub.add_parser("search", help="query an index by text, image or audio")
    p.add_argument("index")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--text")
    query.add_argument("--image", metavar="FILE")
    query.add_argument("--audio", metavar="FILE")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--html", metavar="FILE", help="also write an HTML contact sheet of the hits")
    p.add_argument("--columns", metavar="COL,COL", help="metadata columns to print (default: the first four)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("zero-shot", help="classify a column through an alignment, against label names as prompts")
    p.add_argument("run", help="an alignment run with a text column")
    p.add_argument("table")
    p.add_argument("--label", required=True, help="the column whose values are the classes")
    p.add_argument("--column", required=True, help="the image/audio column to classify")
    p.add_argument("-o", "--output", metavar="CSV", help="write the predictions here")
    p.set_defaults(func=cmd_zero_shot)
