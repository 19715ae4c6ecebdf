"""The report of a generator run, and a generation section any report can reuse (the demo does):
generated image grids per prompt, animated GIF clips, playable generated audio."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from ..report.html import Report

MAX_EPOCH_GRIDS = 12
SKIP = ("epoch", "seconds")


def add_generation_section(report: Report, generator, prompts: Sequence[str], *, n: int = 4, seed: int = 0,
                           heading: str = "Generation") -> Report:
    """One block per prompt: `n` samples (same seed for every prompt) as a PNG grid, a GIF grid of
    clips, or a WAV player, captioned with the prompt."""
    report.add_heading(heading, 2)
    report.add_text(f"{n} samples per prompt from the {generator.model} {generator.task} model "
                    f"(seed {seed}); prompts are the captions shown.")
    for prompt in prompts:
        samples = generator.generate([prompt], n=n, seed=seed)
        data, media_type = generator.to_bytes(samples, columns=n)
        if media_type == "audio/wav":
            report.add_audio(data, caption=prompt)
        else:
            report.add_image(data, caption=prompt)
    return report


def plot_losses(history: list[dict], path: Path) -> Path:
    """Every loss the model reported, one panel each, per epoch."""
    keys = [k for k in history[0] if k not in SKIP]
    fig = Figure(figsize=(3.2 * len(keys), 3.0), layout="tight")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    epochs = [h["epoch"] for h in history]
    for ax, key in zip(axes, keys, strict=True):
        ax.plot(epochs, [h[key] for h in history], marker="o" if len(history) <= 30 else None)
        ax.set(title=key, xlabel="epoch")
        ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, format="png")
    return path


def _epoch_grids(g, run: Path) -> list[tuple[int, bytes]]:
    """(epoch, bytes) of the per-epoch sample grids: from the run's samples/ folder (which survives a
    resume), else from memory; at most 12, evenly spread, the last always included."""
    found = sorted((run / "samples").glob("epoch-*")) if (run / "samples").is_dir() else []
    grids = [(int(p.stem.split("-")[1]), p.read_bytes()) for p in found] or list(enumerate(getattr(g, "previews_", [])))
    if len(grids) > MAX_EPOCH_GRIDS:
        step = len(grids) / MAX_EPOCH_GRIDS
        grids = [grids[int(i * step)] for i in range(MAX_EPOCH_GRIDS - 1)] + [grids[-1]]
    return grids


def write_generator_report(g, run: Path) -> Path:
    report = Report(f"Generator: {g.model}, {g.task}")
    translating = g.task == "image-to-image"
    source = f"the images of `{g.source}`, unpaired" if translating else \
        f"the prompt column `{g.prompt}`, prompts embedded by `{g.text_encoder}`"
    report.add_text(f"Model `{g.model}` generating `{g.target_column}` ({g.output_role}) from {source}; "
                    f"{len(g.history_)} epochs, trained in {g.train_seconds_:.0f} s. Rows per split: "
                    + ", ".join(f"{k} {v}" for k, v in g.split_sizes_.items()) + ".")
    if g.metrics_:
        report.add_heading("Objective evaluation")
        for note in g.metrics_.get("notes", []):
            report.add_text(note)
        where = g.metrics_.get("estimate", "held-out prompts")
        report.add_text(f"Where the figures come from: **{where}** (one sample per prompt).")
        report.add_metrics({k: v for k, v in g.metrics_.items() if k not in ("notes", "estimate")}, caption=where)
        if translating:
            from .translation import summary_rows

            rows = summary_rows(g.metrics_)
            if len(rows):
                report.add_table(rows, caption="Attributes of the translated held-out source images, read by a "
                                 "classifier trained on real images of both columns: content should be kept, style "
                                 "changed; the untranslated images are the baseline")
    if g.history_:
        report.add_heading("Training")
        report.add_image(plot_losses(g.history_, run / "plots" / "losses.png"), "losses per epoch")
    grids = _epoch_grids(g, run)
    if grids:
        report.add_heading("Samples during training")
        what = "spectrograms (low frequencies at the bottom)" if g.output_role == "audio" else "samples"
        if translating:
            report.add_text("Each row is one held-out source image, its translation and the translation back.")
        else:
            report.add_text(f"Each row is one held-out prompt, the same noise every epoch; {what}. Prompts, top to "
                            "bottom: " + "; ".join(f"**{p}**" for p in g.preview_prompts_) + ".")
        for epoch, data in grids:
            report.add_image(data, f"epoch {epoch}")
    if translating:  # the grids above already show the final model's translations
        return report.write(run / "report.html")
    # Griffin-Lim costs a fraction of a second per clip: fewer clips than pictures per prompt.
    add_generation_section(report, g, g.preview_prompts_, n=2 if g.output_role == "audio" else 4, seed=0,
                           heading="Generated samples")
    return report.write(run / "report.html")
