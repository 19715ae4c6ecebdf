"""`polymodal cluster`: clusters of a run's embeddings of a table, with a map (cluster/)."""

from __future__ import annotations

import argparse
import json

from .common import console, print_metrics


def cmd_cluster(args: argparse.Namespace) -> int:
    from ..api import load
    from ..cluster import cluster
    from ..cluster.report import write_report
    from ..data.table import read_table
    from ..schema import detect_schema

    run = load(args.run)
    k = "auto" if args.k == "auto" else int(args.k)
    table = read_table(args.table)
    result = cluster(run, table, k=k, method=args.method, column=args.column, label=args.label, seed=args.seed)
    if args.csv:
        result.assignments.to_csv(args.csv, index=False)
    if args.json:
        print(json.dumps(result.metrics, indent=2))
        return 0
    roles = detect_schema(table, label=[args.label] if args.label else None).modalities
    image = next((c for c, r in roles.items() if r == "image"), None)
    text = next((c for c, r in roles.items() if r == "text"), None)
    path = write_report(result, table, args.output, title=f"polymodal cluster: {args.run} on {args.table}",
                        image=image, text=text)
    print_metrics(result.metrics, f"clusters of {args.run} on {args.table}")
    console.print(f"report: {path}" + (f"; assignments: {args.csv}" if args.csv else ""))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("cluster", help="clusters of a predictor's or aligner's embeddings of a table, with a map")
    p.add_argument("run")
    p.add_argument("table")
    p.add_argument("--k", default="auto", help="the number of clusters for k-means, or auto (best silhouette)")
    p.add_argument("--method", choices=("kmeans", "hdbscan"), default="kmeans")
    p.add_argument("--column", help="embed this column (an aligner's column; a predictor's own features of it) "
                   "instead of the fused rows")
    p.add_argument("--label", help="a column to compare the clusters with (NMI, ARI)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="cluster.html", metavar="HTML")
    p.add_argument("--csv", metavar="CSV", help="also write each row's cluster here")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON, no report")
    p.set_defaults(func=cmd_cluster)
