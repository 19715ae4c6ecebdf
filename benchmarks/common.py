"""What every benchmark script shares: machine facts, and writing its own section of BENCHMARKS.md
between `<!-- NAME:start -->` and `<!-- NAME:end -->` markers without touching the others."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

HEADER = ("# Benchmarks\n\nEach section is written by a script in `benchmarks/`; the command that produced it "
          "is in the section. Ratios compare against a baseline measured in the same run on the same "
          "machine.\n")
BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def machine() -> dict[str, str]:
    import numpy as np
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "torch threads": str(torch.get_num_threads())}


def load_average() -> str:
    try:
        return f"load average {os.getloadavg()[0]:.1f}"
    except OSError:
        return "load average n/a"


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall seconds of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_section(name: str, section: str, path: Path = BENCHMARKS_MD) -> Path:
    """Replace (or append) the block between this script's markers, atomically."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else HEADER
    block = f"{start}\n{section.rstrip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that reproduces this run, for the section's `Command:` line."""
    import shlex
    import sys

    return f"python benchmarks/{script} {shlex.join(argv if argv is not None else sys.argv[1:])}".strip()


def head(title: str, command: str, *paragraphs: str) -> list[str]:
    """A section's opening lines: its title, the command, the machine and its load now, then `paragraphs`."""
    facts = ", ".join(f"{k} {v}" for k, v in machine().items())
    return [f"## {title}", "", f"Command: `{command}`", "", f"Machine: {facts}; {load_average()} at the start.", "",
            *[line for para in paragraphs for line in (para, "")]]


def mean_std(values) -> str:
    """`mean ± std` of a pandas Series, 3 decimals (std 0 for a single value)."""
    import numpy as np

    return f"{values.mean():.3f} ± {np.nan_to_num(values.std()):.3f}"


def stored(path: Path, compute: Callable[[], object], report: Callable[[object], str] | None = None):
    """One finished unit of a resumable benchmark (a pandas DataFrame): read back from `path` when an earlier run
    saved it, else computed, saved atomically (whole or absent) and reported with a line."""
    import pandas as pd

    if path.exists():
        return pd.read_csv(path)
    df = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
    if report is not None:
        print(report(df), flush=True)
    return df


def publish(name: str, opening: list[str], body: list[str], *, write: bool = True) -> None:
    """Print a section's body (with the load now) and, unless told not to, write the whole section."""
    lines = [*opening, *body, "", f"Load average at the last update: {load_average().removeprefix('load average ')}."]
    print("\n".join(lines[len(opening):]), flush=True)
    if write:
        write_section(name, "\n".join(lines))
