"""`polymodal cache info|merge|clear`: the feature cache of frozen encoders."""

from __future__ import annotations

import argparse

from rich.table import Table as RichTable

from ..errors import PolymodalError
from .common import console


def cmd_cache(args: argparse.Namespace) -> int:
    from ..encoders.cache import cache_info, clear_cache

    if args.cache_command == "merge":
        from ..encoders.sharded import merge_caches

        copied = merge_caches(args.source, args.into)
        console.print(f"{copied} shard file(s) copied from {args.source}")
        return 0
    if args.cache_command == "clear":
        removed = clear_cache(args.encoder)
        if args.encoder and not removed:
            held = sorted({k.split("@")[0] for k in cache_info()})
            raise PolymodalError(f"the feature cache holds no entries of encoder {args.encoder!r}; it holds: "
                                 + (", ".join(held) or "nothing"))
        console.print(f"feature cache cleared: {removed} entries" + (f" of {args.encoder}" if args.encoder else ""))
        return 0
    t = RichTable("encoder id", "entries", "MB", title="Feature cache")
    for key, row in cache_info().items():
        t.add_row(key, str(row.get("entries", "")), f"{row.get('bytes', 0) / 1e6:.1f}")
    console.print(t)
    return 0


def add_parser(sub) -> None:
    cache = sub.add_parser("cache", help="the feature cache of frozen encoders").add_subparsers(
        dest="cache_command", required=True, metavar="ACTION")
    p = cache.add_parser("info", help="entries and size per encoder")
    p.set_defaults(func=cmd_cache)
    p = cache.add_parser("merge", help="copy in the shard files of another machine's feature cache")
    p.add_argument("source", help="the other cache's features folder (e.g. copied from another machine)")
    p.add_argument("--into", help="this cache's features folder (default: $POLYMODAL_HOME/features)")
    p.set_defaults(func=cmd_cache)
    p = cache.add_parser("clear", help="delete cached features")
    p.add_argument("--encoder", help="only this encoder id")
    p.set_defaults(func=cmd_cache)
