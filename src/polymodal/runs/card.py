"""RUN/README.md, the model card (after Mitchell et al. 2019, "Model Cards for Model Reporting"):
what the model is, the data it saw, how it scores against its baselines, its limits, how to load it.
Written with every fit from the same numbers as metrics.json; the job adds its own sections."""

from __future__ import annotations

import time
from pathlib import Path

from .. import __version__
from .files import atomic_write


def write_card(job, run: Path, summary: dict) -> Path:
    name, kind = type(job).__name__, job.kind
    splits = summary.get("splits", {})
    lines = [f"# {name} run: {run.name}", "",
             f"Made by polymodal {__version__} on {time.strftime('%Y-%m-%d %H:%M')} in "
             f"{summary.get('fit_seconds', 0):.0f} s. Kind `{kind}`.", "",
             "## Data", "",
             "Rows per split: " + (", ".join(f"{k} {v}" for k, v in splits.items()) or "not recorded") + ".", ""]
    if getattr(job, "estimate_", None):
        lines += [f"Where the numbers come from: {job.estimate_}.", ""]
    for heading, text in job._card(summary):
        lines += [f"## {heading}", "", text.rstrip(), ""]
    params = job.fit_params()
    lines += ["## Parameters", "", "| parameter | value |", "|---|---|",
              *(f"| {k} | `{v}` |" for k, v in params.items()), "",
              "`fit_args.json` holds the same parameters: `polymodal fit TABLE --config fit_args.json` repeats "
              "this fit (on the same table and seed).", "",
              "## How to load", "", "```python", "import polymodal",
              f'model = polymodal.{name}.load("{run}")   # or polymodal.load("{run}")', "```", "",
              "Files: `weights.safetensors` (no pickle: loading never runs code from this folder), "
              "`metrics.json`, `history.json`, `log.csv` (one row per epoch), `report.html` (plots).", ""]
    return atomic_write(run / "README.md", "\n".join(lines))
