"""`polymodal serve` (runs and indexes over HTTP) and `polymodal export` (a predictor run to ONNX)."""

from __future__ import annotations

import argparse

from .common import console


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serve import serve

    serve(args.targets, host=args.host, port=args.port, runtime=args.runtime, max_upload_mb=args.max_upload_mb,
          timeout_s=args.timeout, batching=args.batching, api_keys=tuple(args.api_key or ()),
          insecure_no_auth=args.insecure_no_auth, rate_limit=args.rate_limit,
          cors_origins=tuple(args.cors_origin or ()))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..export.run_export import export_run

    parity = export_run(args.run, args.out, samples=args.samples, rows=args.rows, fmt=args.format)
    end_to_end = parity.get("end_to_end_max_abs_diff")
    console.print(f"exported {args.run} to {args.out}: head max abs diff {parity['head_max_abs_diff']:.2e} "
                  f"on {parity['rows']} {parity['samples']}"
                  + (f", end to end {end_to_end:.2e}" if end_to_end is not None else "")
                  + f" (written to {args.out}/parity.json)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve runs and indexes over HTTP, with a web page (FastAPI + uvicorn)")
    p.add_argument("targets", nargs="+", metavar="RUN_OR_INDEX", help="run directories and index folders")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch", help="fusion + head on PyTorch or ONNX "
                   "Runtime (frozen encoders use ONNX Runtime either way where they export)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest file a request may upload")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a request may take (then 504)")
    p.add_argument("--batching", action="store_true", help="batch concurrent /predict requests (off by default: "
                   "it did not pay with ONNX Runtime encoders on a small CPU, see BENCHMARKS.md)")
    p.add_argument("--api-key", action="append", metavar="KEY", help="require this key on every endpoint but "
                   "/health (repeat for several; also read from POLYMODAL_API_KEY, comma-separated)")
    p.add_argument("--insecure-no-auth", action="store_true", help="allow a non-loopback --host without a key "
                   "(anyone who reaches the port may use the server)")
    p.add_argument("--rate-limit", metavar="N/PERIOD", help="requests per client address, e.g. 30/minute "
                   "(then 429 with Retry-After); off by default")
    p.add_argument("--cors-origin", action="append", metavar="URL", help="a web origin allowed to call the API "
                   "from a browser, e.g. https://app.example.com (repeatable; none by default)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="export a predictor run to ONNX, checked against PyTorch")
    p.add_argument("run")
    p.add_argument("--format", default="onnx", choices=("onnx",))
    p.add_argument("--out", required=True, help="folder for model.onnx, encoders/, export.json, parity.json")
    p.add_argument("--samples", metavar="TABLE", help="real rows to check parity on (default: random features)")
    p.add_argument("--rows", type=int, default=32, help="rows of --samples to use")
    p.set_defaults(func=cmd_export)
