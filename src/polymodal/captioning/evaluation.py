"""Scoring captions: the model's and the nearest-neighbour baseline's, on the same inputs.

Rows that share an input file are one item whose references are all their captions (as in
COCO, where each image has five), so an image listed twice is not counted twice. On tables
with the `shapes` attribute columns, caption attribute accuracy is added for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..metrics.text import caption_metrics
from .attributes import attribute_accuracy, has_attributes


@dataclass
class Items:
    """Unique inputs of a table: the first row of each (`rows`), its file and every reference."""

    rows: list[int]
    paths: list[str]
    references: list[list[str]]


def group_items(paths: list[str], captions: list[str]) -> Items:
    first: dict[str, int] = {}
    refs: dict[str, list[str]] = {}
    for i, (path, caption) in enumerate(zip(paths, captions, strict=True)):
        first.setdefault(path, i)
        refs.setdefault(path, []).append(caption)
    return Items(list(first.values()), list(first), [refs[p] for p in first])


def score(items: Items, model: list[str], baseline: list[str], df: pd.DataFrame | None = None) -> dict:
    """Flat metrics: BLEU-1..4, CIDEr-D, exact match, mean length (and attribute accuracies) of the
    model, and the same with an `nn_` prefix for the nearest-neighbour baseline."""
    out: dict = {"items": len(items.rows)}
    attrs = df.iloc[items.rows].reset_index(drop=True) if df is not None and has_attributes(df) else None
    for prefix, captions in (("", model), ("nn_", baseline)):
        out |= {prefix + k: v for k, v in caption_metrics(captions, items.references).items()}
        if attrs is not None:
            out |= {prefix + k: v for k, v in attribute_accuracy(captions, attrs).items()}
    return out


METRIC_COLUMNS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "cider_d", "exact_match", "mean_length",
                  "shape_accuracy", "color_accuracy", "size_accuracy", "position_accuracy", "attributes_all_accuracy")


def comparison_rows(metrics: dict, model_name: str) -> list[dict]:
    """The model and the baseline side by side (one row each), for reports and benchmarks."""
    rows = []
    for name, prefix in ((model_name, ""), ("nearest-neighbour baseline", "nn_")):
        rows.append({"captioner": name, **{c: metrics[prefix + c] for c in METRIC_COLUMNS if prefix + c in metrics}})
    return rows
