"""The main job on the built-in data (`make demo` / `polymodal demo`).

Builds the `digits` data set (real MNIST digits paired with spoken digits, AV-MNIST style, so
neither modality alone is enough), fits every fusion in the zoo against the unimodal
baselines on frozen pretrained features, evaluates each with one modality missing, distils it into an
image-only student, aligns
audio with images for search by voice, then captions `shapes` scenes and generates scenes and
sounds from captions (demo_shapes.py), and
writes one `report.html` (plus the run directories it summarises).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from ..data.recipes import build
from ..data.summary import summarize
from ..paths import data_home
from ..report.console import print_comparison, print_summary

DEFAULT_DATA = "digits"
# Rows of `digits` the demo uses (of 5,000, a seeded subset with every class; the recipe keeps its held-out accent for
# test). 2,000 rows show the same story (every fusion above each modality alone) and take 80 s less from a cold cache:
# the demo's budget is 6 minutes on two cores. `polymodal data build digits` gives all 5,000.
DEMO_ROWS = 2000
# Columns of the digits table that are not inputs: `word` spells the label out, and the voice
# settings describe how the audio was made.
DEMO_IGNORE = ("word", "voice", "speed", "pitch")
# The fit's time budget (predict/budget.py): on a quiet 2-core machine `--fusion all` on the demo's rows
# finishes well inside it; on a busy one, the costliest candidates get fewer epochs or are skipped (and
# listed), so the demo stays near its 6-minute budget.
DEMO_FIT_SECONDS = 180


def run_demo(out: Path, console: Console | None = None, *, size: int | None = None, epochs: int = 40,
             fusion: str = "all", shapes_size: int | None = None, reader_steps: dict[str, int] | None = None) -> dict:
    """Build the data (cached), fit and compare every fusion, align, caption; write `out/report.html`.
    `reader_steps`: training batches of the attribute readers per role (default: shapes.READER_STEPS)."""
    from ..predict.predictor import Predictor

    console = console or Console()
    started = time.time()
    with console.status(f"building the {DEFAULT_DATA!r} data set (cached after the first run) ..."):
        folder = data_home() / f"{DEFAULT_DATA}-{DEMO_ROWS}" if size is None else out / "data"
        table_path = build(DEFAULT_DATA, folder, size=size or DEMO_ROWS)
    console.print(f"data set: {table_path}  ({time.time() - started:.1f} s)")
    overrides = {c: "ignore" for c in DEMO_IGNORE}
    summary = summarize(table_path, label="label", overrides=overrides, on_error="error")
    print_summary(console, summary)
    predictor = Predictor("label", fusion=fusion, overrides=overrides, epochs=epochs,
                          encoders={"image": "efficientnet-lite0", "audio": "mfcc"}, time_limit=DEMO_FIT_SECONDS)
    run_dir = out / "run"
    predictor.fit(table_path, out=run_dir, overwrite=True)  # the demo's folder is rewritten each time
    print_comparison(console, predictor.comparison_, predictor.task_.monitor)
    student = _student(table_path, run_dir, out, epochs)
    aligner = _align(table_path, out, epochs)
    from .report import write_demo_report
    from .shapes import run_shapes

    shapes = run_shapes(out, console, size=shapes_size, epochs=min(epochs, 12), generator_epochs=min(2 * epochs, 60),
                        reader_steps=reader_steps)
    report_path = write_demo_report(out, predictor, run_dir, aligner, Path(table_path), shapes, student)
    result = {"data": str(table_path), "run": str(run_dir), "best": predictor.best_.name,
              "test": {k: v for k, v in predictor.best_.test.items() if isinstance(v, float)},
              "student_test_accuracy": student.best_.test.get("accuracy"),
              "alignment_mean_recall@1": aligner.metrics_["mean_recall@1"],
              "caption_bleu_4": shapes.captioner.metrics_["bleu_4"],
              "generation_attribute_accuracy": {
                  role: {k.removeprefix("attribute_accuracy_"): v for k, v in g.metrics_.items()
                         if k.startswith("attribute_accuracy_")} for role, g in shapes.generators.items()},
              "seconds": round(time.time() - started, 1)}
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    console.print(f"best model: [bold]{predictor.best_.name}[/]  test accuracy "
                  f"{predictor.best_.test.get('accuracy', float('nan')):.3f}")
    console.print(f"alignment audio<->image: mean R@1 {aligner.metrics_['mean_recall@1']:.3f}")
    console.print(f"report: {report_path}   ({result['seconds']} s in all)")
    return result


def _student(table_path, run_dir: Path, out: Path, epochs: int):
    """Cross-modal distillation (predict/distill.py): an image-only student taught by the fused run, for serving
    where the sound is missing; fitted plainly and with the teacher, the better on validation kept."""
    from ..predict.predictor import Predictor

    student = Predictor("label", fusion="concat", encoders={"image": "efficientnet-lite0"},
                        overrides={**{c: "ignore" for c in DEMO_IGNORE}, "audio": "ignore"}, teacher=run_dir,
                        classical="none", baselines=False, ensemble=False, epochs=epochs)
    return student.fit(table_path, out=out / "student", overwrite=True)


def _align(table_path, out: Path, epochs: int):
    """A shared audio/image space on the same data (every row of a digit is a correct answer)."""
    from ..alignment.aligner import Aligner

    aligner = Aligner(["audio", "image"], encoders={"image": "efficientnet-lite0", "audio": "mfcc"}, key="label",
                      epochs=min(epochs, 30), overrides={c: "ignore" for c in DEMO_IGNORE})
    return aligner.fit(table_path, out=out / "align", overwrite=True)
