"""`fit` on a table larger than memory: peak RSS and time of a streamed fit (predict/streamed.py: two passes over a
Parquet table, features memory-mapped) against the same fit in memory (`stream=False`: the whole table in pandas,
every row's inputs in arrays), the baseline, at two table sizes. Each measurement is a fresh process (`ru_maxrss`),
median of `--repeats`; a fresh feature cache for each.

Table: 8 numbers and 2 categories (one `tabular` modality) and a 4-class label that the numbers tell, row groups
of 100,000 rows. Fit: the `concat` fusion, 2 epochs, batch 512, no baselines, no classical candidates, no ensemble,
so the figures are those of the data path.

    python benchmarks/bench_streamed_fit.py [--rows 100000 400000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common import command_line, head, publish

HERE = Path(__file__).resolve()
FIT = """
import resource, sys, time
import polymodal as pm
t = time.perf_counter()
p = pm.Predictor("label", fusion="concat", epochs=2, batch_size=512, baselines=False, classical="none",
                 ensemble=False, progress=False, stream=sys.argv[2] == "stream").fit(sys.argv[1])
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, p.best_.test["accuracy"])
"""


def table(path: Path, rows: int) -> Path:
    writer = None
    for start in range(0, rows, 100_000):  # written in chunks: the table is never whole in this process either
        n = min(100_000, rows - start)
        rng = np.random.default_rng(start)
        y = rng.integers(0, 4, n)
        cols = {"id": [f"r{i}" for i in range(start, start + n)]}
        for k in range(8):
            cols[f"x{k}"] = y * (k % 3 - 1) + rng.normal(0, 1.5, n)
        cols["shop"] = [f"s{v}" for v in rng.integers(0, 20, n)]
        cols["tier"] = [["gold", "silver", "basic"][v] for v in (y + rng.integers(0, 2, n)) % 3]
        cols["label"] = [f"k{v}" for v in y]
        batch = pa.table(cols)
        writer = writer or pq.ParquetWriter(str(path), batch.schema)
        writer.write_table(batch, row_group_size=100_000)
    writer.close()
    return path


def measure(path: Path, mode: str, home: Path) -> tuple[float, float, float]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1] / "src"), "POLYMODAL_HOME": str(home)}
    out = subprocess.run([sys.executable, "-c", FIT, str(path), mode], env=env, check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024, float(out[2])  # seconds, MiB, test accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    body = ["| rows | streamed peak MiB | streamed s | streamed test acc | in memory peak MiB | in memory s | "
            "in memory test acc | streamed / in memory peak |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for rows in args.rows:
            path = table(tmp / f"t{rows}.parquet", rows)
            runs: dict[str, list] = {"stream": [], "memory": []}
            for r in range(args.repeats):  # interleaved, so a drift of the machine's speed touches both
                for mode in runs:
                    runs[mode].append(measure(path, mode, tmp / f"home-{mode}-{rows}-{r}"))
            med = {m: [statistics.median(x[i] for x in v) for i in range(3)] for m, v in runs.items()}
            (s_t, s_m, s_a), (m_t, m_m, m_a) = med["stream"], med["memory"]
            body.append(f"| {rows:,} | {s_m:,.0f} | {s_t:.1f} | {s_a:.3f} | {m_m:,.0f} | {m_t:.1f} | {m_a:.3f} | "
                        f"{s_m / m_m:.2f} |")
            print(body[-1], flush=True)
            path.unlink()
    opening = head("fit on a table larger than memory: streamed against in memory", command_line(
        "bench_streamed_fit.py", argv), "Peak RSS of a fresh process (the interpreter, torch, pandas and pyarrow "
        "included), median of the repeats, the two modes interleaved. The streamed fit's split is a hash of the id, "
        "the in-memory fit's a seeded stratified split, so their test rows differ.")
    publish("streamed-fit", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
