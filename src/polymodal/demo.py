"""The main job on the built-in data (`make demo` / `polymodal demo`).

Today it builds the default data set and shows what polymodal sees in it; the
learning-core work extends it to fit every fusion and write a report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from .data.recipes import build
from .inspect_table import summarize
from .paths import data_home

DEFAULT_DATA = "digits"


def run_demo(out: Path, console: Console | None = None, *, data: str = DEFAULT_DATA,
             size: int | None = None) -> dict:
    """Build `data` (cached), inspect it, and write `summary.json` into `out`."""
    console = console or Console()
    started = time.time()
    with console.status(f"building the {data!r} data set (cached after the first run) ..."):
        table_path = build(data, data_home() / data if size is None else out / "data", size=size)
    console.print(f"data set: {table_path}  ({time.time() - started:.1f} s)")
    summary = summarize(table_path, on_error="error")
    from .cli import _print_summary

    _print_summary(summary)
    out.mkdir(parents=True, exist_ok=True)
    result = {"data": str(table_path), **summary.to_dict(), "seconds": round(time.time() - started, 2)}
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    console.print(f"summary written to {out / 'summary.json'}")
    return result
