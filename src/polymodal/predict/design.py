"""What a classical candidate reads from each column: a cached encoder's fixed features, a numeric
column's raw number, a categorical column's code. Columns with a trainable encoder over raw media
(scratch image, text, audio) have no fixed features and are left to the neural candidates."""

from __future__ import annotations

import numpy as np
import torch

from ..encoders.materialize import is_cached


def column_kinds(encoders: dict, columns: list[str]) -> dict[str, str]:
    """`{column: "features" | "numeric" | "categorical" | "tabular"}` for the columns a classical model can
    read."""
    kinds = {}
    for column in columns:
        encoder = encoders[column]
        if is_cached(encoder):
            kinds[column] = "features"
        elif encoder.name in ("numeric", "categorical", "tabular"):
            kinds[column] = encoder.name  # "tabular": a group's member columns (encoders/table_group.py)
    return kinds


def raw_values(kind: str, values, mask: torch.Tensor, vocabulary: list[str] | None) -> np.ndarray:
    """`[B, 1]` float64: the number, or the category's code (0: unknown), NaN where the cell is absent."""
    if kind == "numeric":
        x = torch.as_tensor(values, dtype=torch.float64).reshape(-1).numpy().copy()
    else:
        index = {v: i + 1 for i, v in enumerate(vocabulary or [])}
        x = np.array([index.get(str(v), 0) for v in values], dtype=np.float64)
    x = np.clip(x, -1e30, 1e30)  # inf (a float overflow in the table) as a huge number; NaN stays missing
    x[~mask.bool().numpy()] = np.nan
    return x.reshape(-1, 1)
