"""Caption attribute accuracy on the `shapes` recipe: read the main shape's attributes back out
of a generated caption with the recipe's caption grammar and compare them with the table.

Grammar (data/recipes/shapes.py): PHRASE [" and " PHRASE], PHRASE = "a SIZE COLOUR SHAPE WHERE",
WHERE = "on the left" | "in the center" | "on the right"; the first phrase is the main shape.
Each attribute is the first word of the first phrase that is one of its values; a caption
missing one counts as wrong for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data.recipes.shapes import COLORS, POSITIONS, SHAPES, SIZES
from ..metrics.text import words

ATTRIBUTES: dict[str, tuple[str, ...]] = {"shape": SHAPES, "color": tuple(COLORS), "size": SIZES,
                                          "position": POSITIONS}


def parse_caption(caption: str) -> dict[str, str | None]:
    """The main shape's attributes as the caption states them (None where it does not)."""
    first = words(caption.split(" and ")[0])
    return {name: next((w for w in first if w in values), None) for name, values in ATTRIBUTES.items()}


def has_attributes(df: pd.DataFrame) -> bool:
    """Whether a table carries the shapes attribute columns (so captions can be checked against them)."""
    return all(name in df.columns and df[name].astype(str).isin(values).all()
               for name, values in ATTRIBUTES.items())


def attribute_accuracy(captions: Sequence[str], df: pd.DataFrame) -> dict[str, float]:
    """Per attribute the share of captions that state the table's value; "all": every attribute right;
    "parsed": every attribute stated at all (whether right or not)."""
    parsed = [parse_caption(c) for c in captions]
    right = {name: np.array([p[name] == str(v) for p, v in zip(parsed, df[name], strict=True)])
             for name in ATTRIBUTES}
    out = {f"{name}_accuracy": float(hits.mean()) if len(hits) else 0.0 for name, hits in right.items()}
    every = np.logical_and.reduce(list(right.values())) if captions else np.zeros(0)
    out["attributes_all_accuracy"] = float(every.mean()) if len(every) else 0.0
    out["attributes_parsed"] = float(np.mean([all(v is not None for v in p.values()) for p in parsed])) \
        if parsed else 0.0
    return out
