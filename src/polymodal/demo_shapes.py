"""The demo's second data set: `shapes` scenes, for the jobs whose output a person reads or looks at.

A captioner describes scenes in words (image -> caption). Kept small (a few epochs) so that
`make demo` stays within its time budget on two cores; the full-size figures are in BENCHMARKS.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from .data.recipes import build
from .paths import data_home

DATA = "shapes"


@dataclass
class ShapesResults:
    table: Path
    captioner: object | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def run_shapes(out: Path, console: Console, *, size: int | None = None, epochs: int = 12) -> ShapesResults:
    """Build `shapes` (cached) and fit the demo's captioner into `out/caption`."""
    from .captioning.captioner import Captioner

    started = time.time()
    folder = data_home() / DATA if size is None else out / "data-shapes"
    with console.status(f"building the {DATA!r} data set (cached after the first run) ..."):
        table = Path(build(DATA, folder, size=size))
    results = ShapesResults(table, seconds={"build": time.time() - started})
    started = time.time()
    with console.status("fitting a captioner (image -> caption) on shapes ..."):
        results.captioner = Captioner("image", "caption", "gru", epochs=epochs, progress=False).fit(
            table, out=out / "caption")
    results.seconds["caption"] = time.time() - started
    m = results.captioner.metrics_
    console.print(f"captioner: test BLEU-4 {m['bleu_4']:.3f} (nearest-neighbour baseline {m['nn_bleu_4']:.3f}), "
                  f"all four attributes right {m['attributes_all_accuracy']:.1%} "
                  f"({results.seconds['caption']:.0f} s)")
    return results
