"""Inference on a few rows at a time, without the feature cache: decode each cell, then encode a batch.

The feature cache pays for tables read again and again; a server answering single requests with
fresh uploads would only fill it with one shard per request. Here, cells are decoded one by one
(`load_cell`, in the caller's thread) and a batch of decoded cells becomes the model's input for
one column (`column_input`): features from the frozen encoder (through ONNX Runtime where it
exports, see `encoders/onnx_runtime.py`) for cached columns, stacked loader outputs for columns
whose encoder is part of the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .base import Encoder
from .materialize import is_cached
from .onnx_runtime import FastForward, fast_forward


def load_cell(encoder: Encoder, cell: Any) -> Any:
    """The encoder's loader on one cell (a path, a string, a number); None stays None (absent)."""
    return None if cell is None else encoder.loader()(cell)


class ColumnEncoder:
    """Turns decoded cells of one column into the model's input for that column."""

    def __init__(self, encoder: Encoder, *, backend: str = "auto"):
        self.encoder = encoder
        self.cached = is_cached(encoder)
        self.fast: FastForward | None = fast_forward(encoder, backend=backend) if self.cached else None

    def __call__(self, loaded: list[Any]) -> tuple[Any, torch.Tensor]:
        """(input, present mask [B]) for a batch of decoded cells (None where absent)."""
        present = torch.tensor([x is not None for x in loaded], dtype=torch.bool)
        empty = self.encoder.loader().empty()
        if not self.cached:
            filled = [empty if x is None else x for x in loaded]
            return (torch.stack(filled) if isinstance(empty, torch.Tensor) else filled), present
        feats = torch.zeros(len(loaded), self.encoder.out_dim)
        rows = [i for i, x in enumerate(loaded) if x is not None]
        if rows:
            batch = [loaded[i] for i in rows]
            batch = torch.stack(batch) if isinstance(empty, torch.Tensor) else batch
            feats[rows] = torch.from_numpy(np.asarray(self.fast(batch), dtype=np.float32))
        return feats, present

    @property
    def backend(self) -> str:
        return self.fast.backend if self.fast is not None else "torch"
