"""Plots (PNG files) and the self-contained HTML report a run directory carries."""

from __future__ import annotations

from .html import Report
from .plots import (
    image_grid,
    plot_comparison,
    plot_confusion,
    plot_history,
    plot_missing_modality,
    plot_reliability,
)

__all__ = [
    "Report",
    "image_grid",
    "plot_comparison",
    "plot_confusion",
    "plot_history",
    "plot_missing_modality",
    "plot_reliability",
]
