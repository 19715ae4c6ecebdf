"""Wall time of `polymodal demo` from a cold cache (no data set, no features) and warm (both
cached), and the peak memory (max RSS) of `polymodal fit` on the largest built recipes (openmoji, the
largest, with one fusion and with `--fusion all`).

Each run is a separate process with its own POLYMODAL_HOME, so "cold" really starts from nothing.

    python benchmarks/bench_demo.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import load_average, machine, write_section

POLYMODAL = [sys.executable, "-m", "polymodal"]


def timed(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS in MB (RUSAGE_CHILDREN keeps the largest child
    ever, so each measurement runs in its own small wrapper process and reports its own)."""
    wrapper = [sys.executable, "-c", "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True);"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)", *cmd]
    start = time.perf_counter()
    out = subprocess.run(wrapper, env=env, cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, int(out.stdout.strip().splitlines()[-1]) / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cold, warm = [], []
        for i in range(args.repeats):
            env = {**os.environ, "POLYMODAL_HOME": f"{tmp}/home{i}"}
            cold.append(timed([*POLYMODAL, "demo", "--out", f"{tmp}/demo{i}"], env, Path(tmp)))
            warm.append(timed([*POLYMODAL, "demo", "--out", f"{tmp}/demo{i}w"], env, Path(tmp)))
            print("cold", cold[-1], "warm", warm[-1], flush=True)
        rows.append(("`polymodal demo`, cold cache", cold))
        rows.append(("`polymodal demo`, warm cache", warm))
        env = {**os.environ, "POLYMODAL_HOME": f"{tmp}/home0"}
        for name, label, ignore, fusion in (("digits", "label", ["word", "voice", "speed", "pitch"], "concat"),
                                            ("openmoji", "group", ["subgroup"], "concat"),
                                            ("openmoji", "group", ["subgroup"], "all")):
            subprocess.run([*POLYMODAL, "data", "build", name], env=env, check=True, capture_output=True)
            flags = [a for c in ignore for a in ("--ignore", c)]
            cmd = [*POLYMODAL, "fit", str(Path(tmp) / "home0" / "data" / name), "--label", label, *flags,
                   "--fusion", fusion, "--out", f"{tmp}/fit-{name}-{fusion}"]
            what = "every fusion + baselines + ensemble" if fusion == "all" else f"{fusion} + baselines"
            rows.append((f"`polymodal fit` on {name} ({what})", [timed(cmd, env, Path(tmp))]))
            print(rows[-1], flush=True)
    lines = ["## Demo wall time and peak memory", "",
             f"Command: `python benchmarks/bench_demo.py {shlex.join(argv if argv is not None else sys.argv[1:])}`",
             "", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + f"; {load_average()}.", "",
             "Each command runs in a fresh process; cold = empty POLYMODAL_HOME (the data set is built and "
             "every feature extracted), warm = the same home again. Peak memory is the process's max RSS. "
             "The fit rows run in order in one home: the first openmoji fit extracts the image, text and "
             "audio features, so the `--fusion all` fit after it reads them from the cache (hence its lower "
             "peak). Targets: the demo within 6 minutes and 2.5 GB from a cold cache.", "",
             "| what | wall s (median) | peak RSS MB |", "|---|---:|---:|"]
    for what, runs in rows:
        lines.append(f"| {what} | {statistics.median(r[0] for r in runs):.0f} | "
                     f"{max(r[1] for r in runs):,.0f} |")
    cold_s, warm_s = statistics.median(r[0] for r in rows[0][1]), statistics.median(r[0] for r in rows[1][1])
    lines += ["", f"Same run, cold against warm: {cold_s / warm_s:.2f}x the time (what a first run pays to build the "
              "data and extract every feature)."]
    if not args.no_write:
        print("written to", write_section("demo", "\n".join(lines)))


if __name__ == "__main__":
    main()
