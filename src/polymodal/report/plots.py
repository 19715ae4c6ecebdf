"""Report plots, each written to a PNG at `path` (which is returned).

Figures are built with matplotlib's object API (`Figure`, rendered by Agg when
saved) rather than `pyplot`: nothing is registered in pyplot's global figure
list, so no figure can be left open, no GUI backend is touched (a user's
notebook keeps its own), and plots can be drawn from several threads.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from PIL import Image

from ..errors import PolymodalError
from ..metrics import calibration_bins, expected_calibration_error, lower_is_better

DPI = 110
KIND_COLORS = {"fusion": "#2b6cb0", "unimodal": "#a0aec0", "ensemble": "#c05621"}
OTHER_COLOR = "#4a5568"


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    fig.clear()  # drop the artists now rather than at garbage collection
    return path


def _series(history: list[dict], *keys: str) -> np.ndarray:
    """The first of `keys` each epoch holds, as floats (NaN where absent)."""
    key = next((k for k in keys if any(h.get(k) is not None for h in history)), None)
    return np.array([np.nan if key is None or h.get(key) is None else float(h[key]) for h in history])


def plot_history(history: list[dict], path: str | Path, metric: str) -> Path:
    """Train and validation loss (left) and the validation `metric` (right) per epoch.

    Each history row holds "epoch", "train_loss", optionally "val_loss" and the metric
    as f"val_{metric}" or `metric` ("accuracy" and "val_accuracy" both work). The best
    epoch (by the metric, else by the loss) is marked on both panels.
    """
    if not history:
        raise PolymodalError("training history is empty: nothing to plot")
    metric = metric.removeprefix("val_")
    epochs = np.array([h.get("epoch", i) for i, h in enumerate(history)])
    train, val, score = _series(history, "train_loss"), _series(history, "val_loss"), _series(
        history, f"val_{metric}", metric)
    fig = Figure(figsize=(10, 3.8), layout="tight")
    ax_loss, ax_metric = fig.subplots(1, 2)
    marker = "o" if len(history) <= 30 else None
    ax_loss.plot(epochs, train, marker=marker, label="train loss")
    if np.isfinite(val).any():
        ax_loss.plot(epochs, val, marker=marker, label="validation loss")
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="loss")
    best = _best_epoch(score, lower_is_better(metric)) if np.isfinite(score).any() else _best_epoch(
        val if np.isfinite(val).any() else train, lower=True)
    if np.isfinite(score).any():
        ax_metric.plot(epochs, score, marker=marker, color="#2f855a", label=f"validation {metric}")
        ax_metric.annotate(f"{score[best]:.4g}", (epochs[best], score[best]), textcoords="offset points",
                           **({"xytext": (-6, 6), "ha": "right"} if best > len(epochs) / 2 else {"xytext": (6, 6)}))
    else:
        ax_metric.text(0.5, 0.5, f"no validation {metric} recorded", ha="center", va="center",
                       transform=ax_metric.transAxes, color="gray")
    ax_metric.set(title=f"Validation {metric}", xlabel="epoch", ylabel=metric)
    for ax in (ax_loss, ax_metric):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(y=0.12)  # room for the best-value label
        if best is not None:
            ax.axvline(epochs[best], color="#c53030", linestyle="--", linewidth=1,
                       label=f"best epoch ({epochs[best]})")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, path)


def _best_epoch(values: np.ndarray, lower: bool) -> int | None:
    if not np.isfinite(values).any():
        return None
    return int(np.nanargmin(values) if lower else np.nanargmax(values))


def plot_confusion(cm: list[list[int]], classes: Sequence[str], path: str | Path, normalize: bool = True) -> Path:
    """Heat map of a confusion matrix (rows = true class). `normalize` divides each row by its
    total, so the diagonal reads as per-class recall. Cells are annotated up to 20 classes."""
    counts = np.asarray(cm, dtype=np.float64)
    if counts.ndim != 2 or counts.shape != (len(classes), len(classes)):
        raise PolymodalError(f"confusion matrix of shape {counts.shape} does not match {len(classes)} classes")
    totals = counts.sum(axis=1, keepdims=True)
    shown = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0) if normalize else counts
    side = float(np.clip(0.45 * len(classes) + 2.5, 4, 16))
    fig = Figure(figsize=(side + 1, side), layout="tight")
    ax = fig.subplots()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(shown.max(), 1))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class" if normalize else "count")
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, labels=classes, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, labels=classes)
    ax.set(xlabel="predicted class", ylabel="true class",
           title="Confusion matrix (rows normalised)" if normalize else "Confusion matrix (counts)")
    if len(classes) <= 20:
        dark = 0.5 * (1 if normalize else shown.max())
        for (i, j), value in np.ndenumerate(shown):
            ax.text(j, i, f"{value:.2f}" if normalize else f"{int(value)}", ha="center", va="center",
                    fontsize=8, color="white" if value > dark else "#1a202c")
    return _save(fig, path)


def plot_comparison(rows: list[dict], path: str | Path, metric: str, title: str) -> Path:
    """Horizontal bars of `metric` per model, best at the top, with f"{metric}_std" error bars
    where given and a colour per "kind" (fusion, unimodal, ensemble)."""
    missing = [r.get("name", "?") for r in rows if r.get(metric) is None]
    if not rows or missing:
        raise PolymodalError(f"every row needs a value for {metric!r}; missing for {missing or 'all (no rows)'}")
    rows = sorted(rows, key=lambda r: r[metric], reverse=not lower_is_better(metric))
    values = np.array([float(r[metric]) for r in rows])
    stds = np.array([float(r.get(f"{metric}_std") or 0.0) for r in rows])
    colors = [KIND_COLORS.get(r.get("kind"), OTHER_COLOR) for r in rows]
    fig = Figure(figsize=(8, 0.42 * len(rows) + 1.6), layout="tight")
    ax = fig.subplots()
    y = np.arange(len(rows))
    ax.barh(y, values, xerr=np.where(stds > 0, stds, np.nan), color=colors, capsize=3, height=0.7)
    ax.set_yticks(y, labels=[str(r["name"]) for r in rows])
    ax.invert_yaxis()  # the first (best) row at the top
    span = max(np.max(np.abs(values) + stds), 1e-12)
    for yi, v, s in zip(y, values, stds, strict=True):
        text = f"{v:.3f} ± {s:.3f}" if s > 0 else f"{v:.3f}"
        end = v + s if v >= 0 else v - s
        ax.text(end + (0.01 if v >= 0 else -0.01) * span, yi, text, va="center", ha="left" if v >= 0 else "right",
                fontsize=8)
    low, high = min(0.0, np.min(values - stds)), max(0.0, np.max(values + stds))
    ax.set_xlim(low - (0.35 * span if low < 0 else 0), high + (0.3 * span if high > 0 else 0))  # room for labels
    ax.set(xlabel=metric, title=title)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    kinds = [k for k in KIND_COLORS if any(r.get("kind") == k for r in rows)]
    if kinds:
        ax.legend(handles=[Patch(color=KIND_COLORS[k], label=k) for k in kinds], fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_missing_modality(rows: list[dict], path: str | Path, metric: str, title: str | None = None,
                          legend: str = "condition") -> Path:
    """Grouped bars: `metric` per model (groups) under each condition (bars), e.g. "all
    modalities", "without image". Rows are {"name", "condition", metric}; the order of
    first appearance sets the order of models and conditions. Other grouped comparisons pass their `title` and
    `legend` (an online update's rows before and after it)."""
    if not rows:
        raise PolymodalError("no rows to plot")
    names = list(dict.fromkeys(str(r["name"]) for r in rows))
    conditions = list(dict.fromkeys(str(r["condition"]) for r in rows))
    table = np.full((len(names), len(conditions)), np.nan)
    for r in rows:
        if r.get(metric) is not None:
            table[names.index(str(r["name"])), conditions.index(str(r["condition"]))] = float(r[metric])
    width = 0.8 / len(conditions)
    fig = Figure(figsize=(max(6.0, 1.1 * len(names) * max(1, len(conditions) / 3) + 2), 4.2), layout="tight")
    ax = fig.subplots()
    x = np.arange(len(names))
    palette = colormaps["tab10"]
    for k, condition in enumerate(conditions):
        bars = ax.bar(x - 0.4 + width * (k + 0.5), table[:, k], width, label=condition, color=palette(k % 10))
        if table.size <= 24:
            ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.set_xticks(x, labels=names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    ax.set(ylabel=metric, title=title or f"{metric} when a modality is missing")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.margins(y=0.1)
    ax.legend(title=legend, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside the bars
    return _save(fig, path)


def plot_reliability(y_true: np.ndarray, proba: np.ndarray, path: str | Path) -> Path:
    """Reliability diagram: accuracy against mean confidence per confidence bin (top), and how many
    examples fall in each bin (bottom). The expected calibration error is in the title."""
    bins = calibration_bins(y_true, proba)
    ece = expected_calibration_error(y_true, proba)
    centers, width = (bins.edges[:-1] + bins.edges[1:]) / 2, np.diff(bins.edges)
    fig = Figure(figsize=(5.5, 6), layout="tight")
    ax, ax_count = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(centers, np.nan_to_num(bins.accuracy), width, color="#2b6cb0", edgecolor="white", label="accuracy")
    full = bins.count > 0
    gap_low = np.minimum(bins.accuracy, bins.confidence)[full]
    ax.bar(centers[full], np.abs(bins.accuracy - bins.confidence)[full], width[full], bottom=gap_low,
           color="#e53e3e", alpha=0.35, edgecolor="#c53030", hatch="//", label="gap to confidence")
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=f"Reliability diagram (ECE = {ece:.3f}, n = "
           f"{int(bins.count.sum())})")
    ax.legend(fontsize=8, loc="upper left")
    ax_count.bar(centers, bins.count, width, color="#718096", edgecolor="white")
    ax_count.set(xlabel="confidence (top-1 probability)", ylabel="examples")
    return _save(fig, path)


def image_grid(images: Sequence[Image.Image | str | Path], captions: Sequence[str], path: str | Path,
               cols: int = 8) -> Path:
    """A contact sheet: the images in rows of `cols`, each with its caption underneath."""
    if not images or len(images) != len(captions):
        raise PolymodalError(f"need one caption per image, got {len(images)} images and {len(captions)} captions")
    cols = max(1, min(cols, len(images)))
    rows = math.ceil(len(images) / cols)
    fig = Figure(figsize=(1.8 * cols, 2.2 * rows), layout="tight")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, image, caption in zip(axes.flat, images, captions, strict=False):
        ax.imshow(_thumbnail(image))
        wrapped = "\n".join(textwrap.wrap(str(caption), 22, max_lines=3, placeholder="…"))
        ax.text(0.5, -0.03, wrapped, transform=ax.transAxes, ha="center", va="top", fontsize=7)
    return _save(fig, path)


def _thumbnail(image: Image.Image | str | Path, size: int = 256) -> np.ndarray:
    with Image.open(image) if isinstance(image, str | Path) else nullcontext(image) as img:
        img = img.convert("RGBA")
        img.thumbnail((size, size))
        background = Image.new("RGBA", img.size, "white")  # transparent areas read as white, not black
        return np.asarray(Image.alpha_composite(background, img).convert("RGB"))


def plot_modality_importance(rows: list[dict], path: str | Path) -> Path:
    """Which modality mattered (predict/explain.py): left, each modality's mean |Shapley value|; right, the
    metric's drop when each modality (or tabular member column) is shuffled, ± its std over repeats. Rows are
    {"modality", "column", "metric", "drop", "drop_std", "mean_abs_shapley"}."""
    if not rows:
        raise PolymodalError("no rows to plot")
    whole = [r for r in rows if r["column"] == r["modality"]]
    fig = Figure(figsize=(10, max(2.6, 0.45 * max(len(whole), len(rows)) + 1.4)), layout="tight")
    left, right = fig.subplots(1, 2)
    order = sorted(whole, key=lambda r: r.get("mean_abs_shapley") or 0.0)
    left.barh([r["modality"] for r in order], [r.get("mean_abs_shapley") or 0.0 for r in order],
              color=colormaps["tab10"](0))
    left.set(xlabel="mean |Shapley value|", title="contribution to each prediction")
    ranked = sorted(rows, key=lambda r: r["drop"])
    labels = [r["modality"] if r["column"] == r["modality"] else f"{r['modality']}: {r['column']}" for r in ranked]
    right.barh(labels, [r["drop"] for r in ranked], xerr=[r["drop_std"] for r in ranked],
               color=[colormaps["tab10"](1 if r["column"] == r["modality"] else 2) for r in ranked])
    right.axvline(0, color="black", linewidth=0.8)
    right.set(xlabel=f"drop in {rows[0]['metric']} when shuffled", title="permutation importance")
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    return _save(fig, path)
