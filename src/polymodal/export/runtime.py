"""Running a model's head (fusion + head, and the encoders trained inside the model) through ONNX
Runtime, with the same call as PyTorch: `runner(inputs, masks) -> logits [B, out]`.

`head_runner(model, "onnx")` exports the graph once per weights (under `$POLYMODAL_HOME/onnx/heads/`,
keyed by a hash of the weights and the graph's inputs), then checks on random inputs with mixed
masks that ONNX Runtime and PyTorch agree within `PARITY_TOLERANCE` before it is used; a larger
difference raises rather than serving different answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..encoders.onnx_runtime import EXPORT_VERSION, PARITY_TOLERANCE, cores, session, weights_digest
from ..errors import PolymodalError
from ..paths import home
from ..predict.model import MultimodalModel
from ..training.data import ArrayData
from .graph import GraphInput, HeadGraph, export_head, graph_inputs, sample_inputs

logger = logging.getLogger("polymodal")

RUNTIMES = ("torch", "onnx")


class TorchHead:
    """The model itself, in eval mode, under inference mode."""

    backend = "torch"

    def __init__(self, model: MultimodalModel):
        self.model = model.eval()

    def __call__(self, inputs: dict[str, Any], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(inputs, masks).float()


class OnnxHead:
    """An exported head graph in an ONNX Runtime session."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, specs: list[GraphInput], *, threads: int | None = None):
        self.path, self.specs = Path(path), specs
        self.session = session(self.path, threads or cores())
        self.parity: float | None = None

    def __call__(self, inputs: dict[str, Any], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        feed = {}
        for s in self.specs:
            value = inputs[s.column]
            if not isinstance(value, torch.Tensor):
                raise PolymodalError(f"column {s.column!r}: the ONNX graph needs a tensor, got {type(value).__name__}")
            feed[s.name] = np.ascontiguousarray(value.detach().cpu().numpy().astype(s.dtype, copy=False))
            feed[s.mask] = np.ascontiguousarray(masks[s.column].detach().cpu().numpy().astype(bool))
        return torch.from_numpy(self.session.run(None, feed)[0])

    def check_parity(self, model: MultimodalModel, batch: int = 5, seed: int = 1) -> float:
        """Max abs difference of logits against PyTorch on random inputs (another batch size and other
        masks than the export traced, so a branch baked in by tracing shows up)."""
        sample = sample_inputs(self.specs, batch=batch, seed=seed)
        names = [s.name for s in self.specs] + [s.mask for s in self.specs]
        with torch.inference_mode():
            ref = HeadGraph(model.eval())(*(sample[n] for n in names)).float().numpy()
        out = self.session.run(None, {n: sample[n].numpy() for n in names})[0]
        self.parity = float(np.abs(out - ref).max())
        return self.parity


def logits(runner, data: ArrayData, batch_size: int = 512) -> torch.Tensor:
    """`runner` over every row of `data`, in batches."""
    outs = []
    for start in range(0, len(data), batch_size):
        inputs, masks, _ = data.take(torch.arange(start, min(start + batch_size, len(data))))
        outs.append(runner(inputs, masks))
    return torch.cat(outs) if outs else torch.empty(0)


_HEADS: dict[Path, OnnxHead] = {}
_LOCK = threading.Lock()


def head_file(model: MultimodalModel, specs: list[GraphInput]) -> Path:
    text = json.dumps([s.to_dict() for s in specs])
    key = hashlib.sha1(f"{weights_digest(model)}|{text}|{EXPORT_VERSION}|torch={torch.__version__}".encode())
    return home() / "onnx" / "heads" / f"{key.hexdigest()[:24]}.onnx"


def head_runtime(model: MultimodalModel) -> OnnxHead:
    """The model's head in ONNX Runtime (exported on first use, parity-checked once per process)."""
    specs = graph_inputs(model)
    path = head_file(model, specs)
    with _LOCK:
        if path not in _HEADS:  # once per graph and process
            if any(type(m).__name__ == "BoostedTrees" for m in getattr(model, "members", [model])):
                logger.warning("the saved model holds LightGBM trees: as tensor operations in the ONNX graph they "
                               "run several times slower than LightGBM itself (BENCHMARKS.md, export-ensemble); the "
                               "torch runtime, which calls LightGBM, is the faster one here")
            if not path.exists():
                export_head(model, path)
            head = OnnxHead(path, specs)
            diff = head.check_parity(model)
            if not diff <= PARITY_TOLERANCE:
                raise PolymodalError(f"the exported ONNX graph differs from PyTorch by {diff:.2e} "
                                     f"(> {PARITY_TOLERANCE:g}); use runtime 'torch'")
            _HEADS[path] = head
        return _HEADS[path]


def head_runner(model: MultimodalModel, runtime: str = "torch"):
    """A callable `(inputs, masks) -> logits` on PyTorch ("torch") or ONNX Runtime ("onnx")."""
    if runtime not in RUNTIMES:
        raise PolymodalError(f"unknown runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    return head_runtime(model) if runtime == "onnx" else TorchHead(model)
