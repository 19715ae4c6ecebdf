"""The report.html of a captioning run, and the "captions next to images" section the demo reuses.

    report = Report("...")
    add_caption_examples(report, captioner, "data/shapes", n=8)   # image, reference, model, baseline
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from ..report.html import Report
from ..report.plots import plot_history
from .evaluation import comparison_rows

LINES = (("reference", "reference", "#2d3748"), ("model", "model", "#2b6cb0"),
         ("nearest_neighbour", "nearest neighbour", "#718096"))


def _thumbnail(path: str, size: int = 160) -> np.ndarray:
    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((size, size))
        return np.asarray(img)


def caption_sheet(examples: list[dict], path: str | Path, cols: int = 2) -> Path:
    """A PNG: each example's image with its reference, the model's caption and the baseline's beside it."""
    rows = -(-len(examples) // cols)
    fig = Figure(figsize=(6.2 * cols, 2.1 * rows), layout="tight")
    grid = fig.add_gridspec(rows, 2 * cols, width_ratios=[1, 2.2] * cols)
    for i, example in enumerate(examples):
        r, c = divmod(i, cols)
        ax_img, ax_txt = fig.add_subplot(grid[r, 2 * c]), fig.add_subplot(grid[r, 2 * c + 1])
        ax_img.imshow(_thumbnail(example["input"]))
        for ax in (ax_img, ax_txt):
            ax.set_axis_off()
        y = 0.95
        for key, label, color in LINES:
            text = "\n".join(textwrap.wrap(f"{label}: {example[key]}", 44, max_lines=3, placeholder="…"))
            ax_txt.text(0.0, y, text, transform=ax_txt.transAxes, va="top", fontsize=8, color=color,
                        fontweight="bold" if key == "model" else "normal")
            y -= 0.27 + 0.11 * text.count("\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, format="png")
    fig.clear()
    return path


def render_examples(report: Report, examples: list[dict], role: str, folder: Path,
                    heading: str = "Captions next to their inputs") -> Report:
    """A heading, the inputs (an image sheet, or audio players) and a table of the same captions."""
    report.add_heading(heading)
    if not examples:
        report.add_text("No example to show.")
        return report
    if role == "image":
        report.add_image(caption_sheet(examples, folder / "captions.png"),
                         "Reference (black), the model's caption (blue, bold), the nearest-neighbour baseline's (grey)")
    else:
        for example in examples[:6]:
            report.add_audio(example["input"], f"reference: {example['reference']} · model: {example['model']} · "
                                               f"nearest neighbour: {example['nearest_neighbour']}")
    report.add_table([{"input": Path(e["input"]).name, "reference": e["reference"], "model": e["model"],
                       "nearest neighbour": e["nearest_neighbour"]} for e in examples],
                     caption="The same examples as text")
    return report


def add_caption_examples(report: Report, captioner, table, n: int = 8, *, split: str | None = "test",
                         folder: str | Path | None = None) -> Report:
    """Add a fitted captioner's captions for `n` inputs of `table` (its `split` rows when it has a split
    column) next to the inputs, their references and the nearest-neighbour baseline's captions."""
    import tempfile

    examples = captioner.examples(table, n, split=split)
    if folder is not None:
        return render_examples(report, examples, captioner.input_role, Path(folder))
    with tempfile.TemporaryDirectory() as tmp:  # the report embeds the sheet: the file can go
        return render_examples(report, examples, captioner.input_role, Path(tmp))


def write_caption_report(c, run: Path) -> Path:
    report = Report(f"polymodal captioning: {c.input_} -> {c.target_}")
    m = c.metrics_
    report.add_heading("Overview")
    report.add_text(
        f"A `{c.decoder}` decoder over {c.token_shape_[0]} token(s) of `{c.encoder_.name}` features per "
        f"{c.input_role}, vocabulary of {c.tokenizer_.vocab_size} ids learned from {c.split_sizes_['train']} "
        f"training captions; trained in {c.train_seconds_:.1f} s (best epoch {c.best_epoch_ + 1} of "
        f"{len(c.history_)}). Where the figures come from: **{c.estimate_}** ({m['items']} distinct inputs), "
        f"beam size {m['beam_size']}, length penalty alpha {c.length_penalty}.")
    if c.answer_ == "nearest":
        report.add_text(
            f"**This run answers with the nearest-neighbour baseline, not the decoder.** On the "
            f"{c.choice_['rows']} validation rows the decoder's BLEU-4 was {c.choice_['model_bleu_4']:.4f} against "
            f"{c.choice_['nearest_bleu_4']:.4f} for copying the nearest training caption, and a model worse than "
            "that baseline is not shipped. More training rows, more epochs or another decoder may change that.")
    report.add_heading("Metrics")
    rows = comparison_rows(m, f"{c.decoder} (beam {m['beam_size']})")
    report.add_table(rows, caption="The model against the nearest-neighbour baseline (copy the caption of the "
                     "most similar training input). BLEU and CIDEr-D are corpus level; exact match is the share "
                     "of captions equal to a reference.", highlight_max=[k for k in rows[0] if k not in (
                         "captioner", "mean_length")])
    if "shape_accuracy" in m:
        report.add_text("Attribute accuracy: the caption's first phrase parsed with the `shapes` grammar "
                        "(`a SIZE COLOUR SHAPE WHERE`) and compared with the table's columns.")
    report.add_heading("Training")
    plots = run / "plots"
    plots.mkdir(exist_ok=True)
    report.add_image(plot_history(c.history_, plots / "history.png", "val_smoothed_bleu_4"),
                     "Token cross-entropy (teacher forcing) and validation BLEU-4 of greedy captions "
                     "(smoothed) per epoch")
    render_examples(report, c.examples_, c.input_role, plots)
    return report.write(run / "report.html")
