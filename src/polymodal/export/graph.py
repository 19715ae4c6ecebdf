"""A saved model as an ONNX graph: features (or raw tensors) and presence masks in, logits out. The model is a
`MultimodalModel`, a classical model that traces in torch (k nearest neighbours, LightGBM's trees as tensor
operations), or a `WeightedEnsemble` of them (ensemble selection, k-fold bags): one graph either way.

ONNX takes a flat list of tensors, not dicts: column i of the model (in its sorted order) becomes
the inputs `x{i}` (features `[B, D]` of a frozen cached encoder, or the loader's tensor `[B, ...]`
for an encoder trained inside the model) and `mask{i}` (bool `[B]`). The batch axis is dynamic.
Encoders whose input is a list of strings (scratch text, categories) tokenise in Python and cannot
be part of the graph; `graph_inputs` names them.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import PolymodalError
from ..predict.model import MultimodalModel
from ..runs.files import atomic_write

OPSET = 17


@dataclass(frozen=True)
class GraphInput:
    column: str
    name: str  # the ONNX input name of the values; the mask is `mask{i}`
    mask: str
    kind: str  # "features" (a cached encoder's output) or "input" (the loader's tensor)
    shape: tuple[int, ...]  # without the batch axis
    dtype: str

    def to_dict(self) -> dict:
        return asdict(self)


def _encoder_of(model: MultimodalModel, column: str):
    return model.encoders[f"m{model.trainable.index(column)}"]


def _member_inputs(member: nn.Module) -> tuple[dict[str, tuple[str, tuple[int, ...], str]], list[str]]:
    """{column: (kind, shape, dtype)} for what one model reads, and why any column cannot be a tensor input."""
    from ..predict.fitted import FittedModel
    from ..predict.knn import NearestNeighbours
    from ..predict.trees import BoostedTrees

    found, bad = {}, []
    if isinstance(member, NearestNeighbours):  # every column it reads is cached features
        return {c: ("features", (getattr(member, f"mean{i}").numel(),), "float32")
                for i, c in enumerate(member.columns)}, bad
    if isinstance(member, BoostedTrees):
        bad = member.unexportable()
        return {c: ("features", (getattr(member, f"center{i}").numel(),), "float32")
                for i, c in enumerate(member.columns) if member.kinds[c] == "features"}, bad
    if isinstance(member, FittedModel):
        return found, [f"{type(member).__name__} has no graph"]
    for column in member.modalities:
        if column in member.cached_dims:
            found[column] = ("features", (member.cached_dims[column],), "float32")
            continue
        encoder = _encoder_of(member, column)
        empty = encoder.loader().empty()
        if not isinstance(empty, torch.Tensor):
            bad.append(f"column {column!r}: encoder {encoder.name!r} takes strings (tokenised in Python), "
                       "not a tensor")
            continue
        found[column] = ("input", tuple(empty.shape), str(empty.dtype).removeprefix("torch."))
    return found, bad


def graph_inputs(model: nn.Module) -> list[GraphInput]:
    """One entry per model column, in the model's order; raises when a column cannot be a tensor input. A model is
    a `MultimodalModel`, a classical model traced in torch (nearest neighbours; LightGBM's trees as tensors,
    predict/tree_tensors.py) or a `WeightedEnsemble` of them, whose members share each column's input."""
    members = list(getattr(model, "members", [model]))
    found: dict[str, tuple] = {}
    bad: list[str] = []
    for member in members:
        columns, problems = _member_inputs(member)
        bad += [p for p in problems if p not in bad]
        for column, spec in columns.items():
            if found.setdefault(column, spec) != spec:  # trainable encoders of one column all read its loader
                bad.append(f"column {column!r}: the ensemble's members read it as {found[column]} and {spec}")
    if bad:
        raise PolymodalError("cannot export this model to ONNX:\n  " + "\n  ".join(bad)
                             + "\nUse a frozen pretrained encoder (features) or a tensor encoder for these columns.")
    return [GraphInput(column, f"x{i}", f"mask{i}", *found[column]) for i, column in enumerate(model.modalities)]


class HeadGraph(nn.Module):
    """The model's forward with positional tensors: x0..x{n-1}, mask0..mask{n-1}."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.columns = model, model.modalities

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        n = len(self.columns)
        inputs = dict(zip(self.columns, args[:n], strict=True))
        masks = dict(zip(self.columns, args[n:], strict=True))
        return self.model(inputs, masks)


def sample_inputs(specs: list[GraphInput], batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random values and mixed masks for tracing and parity checks (every row keeps one modality)."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for s in specs:
        dtype = getattr(torch, s.dtype)
        out[s.name] = (torch.randn((batch, *s.shape), generator=g).to(dtype) if dtype.is_floating_point
                       else torch.randint(0, 2, (batch, *s.shape), generator=g).to(dtype))
    masks = torch.rand((batch, len(specs)), generator=g) > 0.3
    masks[torch.arange(batch), torch.randint(0, len(specs), (batch,), generator=g)] = True
    for j, s in enumerate(specs):
        out[s.mask] = masks[:, j].clone()
    return out


def export_head(model: nn.Module, path: str | Path, *, sample: dict[str, torch.Tensor] | None = None
                ) -> tuple[Path, list[GraphInput]]:
    """Trace `model` (in eval mode) into `path` atomically; returns the path and the graph's inputs."""
    specs = graph_inputs(model)
    sample = sample or sample_inputs(specs)
    names = [s.name for s in specs] + [s.mask for s in specs]
    args = tuple(sample[n] for n in names)
    if len(args[0]) < 2:  # a batch of one could let the tracer specialise on it
        args = tuple(a.repeat(2, *[1] * (a.dim() - 1)) for a in args)
    was_training = model.training

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter is chatty about deprecations
            torch.onnx.export(HeadGraph(model.eval()), args, str(tmp), input_names=names, output_names=["logits"],
                              dynamic_axes={n: {0: "batch"} for n in [*names, "logits"]}, opset_version=OPSET,
                              dynamo=False)

    try:
        path = atomic_write(path, write)
    finally:
        model.train(was_training)
    return path, specs
