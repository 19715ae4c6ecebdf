"""Tables larger than memory: peak RSS and time of `polymodal table scan` (data/stream.py: schema from a sample,
every batch validated, hash split, label counts) on generated 1M, 4M and 10M-row Parquet tables, against reading
the same table whole with pandas (`pd.read_parquet`), the baseline. Each measurement is a fresh process
(`ru_maxrss`), median of `--repeats`.

Table: an id, a short text, a number and a 5-class label per row, row groups of 100,000 rows.

    python benchmarks/bench_stream.py [--rows 1000000 4000000 10000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import command_line, head, publish
from polymodal.data.stream import generated

HERE = Path(__file__).resolve()
SCAN = """
import resource, sys, time
from polymodal.data.stream import scan
t = time.perf_counter()
r = scan(sys.argv[1], label="label", skipped=sys.argv[2])
print(r.rows, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
PANDAS = """
import resource, sys, time
import pandas as pd
t = time.perf_counter()
df = pd.read_parquet(sys.argv[1])
print(len(df), time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(code: str, table: Path, tmp: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1] / "src")}
    out = subprocess.run([sys.executable, "-c", code, str(table), str(tmp / "skipped.csv")], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[1]), int(out[2]) / 1024  # seconds, MiB


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    body = ["| rows | scan peak MiB | scan s | rows/s | pandas whole read peak MiB | pandas s | scan / pandas peak |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for rows in args.rows:
            table = generated(tmp / f"t{rows}.parquet", rows)
            scans = [measure(SCAN, table, tmp) for _ in range(args.repeats)]
            whole = [measure(PANDAS, table, tmp) for _ in range(args.repeats)]
            s_time, s_mem = statistics.median(t for t, _ in scans), statistics.median(m for _, m in scans)
            p_time, p_mem = statistics.median(t for t, _ in whole), statistics.median(m for _, m in whole)
            body.append(f"| {rows:,} | {s_mem:,.0f} | {s_time:.1f} | {rows / s_time:,.0f} | {p_mem:,.0f} | "
                        f"{p_time:.1f} | {s_mem / p_mem:.2f} |")
            print(body[-1], flush=True)
            table.unlink()
    opening = head("Tables larger than memory: streaming scan against a whole read",
                   command_line("bench_stream.py", argv),
                   "Peak RSS of a fresh process (the interpreter, pandas and pyarrow included), median of the repeats.")
    publish("stream", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
