"""`polymodal export RUN --format onnx --out DIR`: a Predictor run as ONNX graphs, checked against PyTorch.

    DIR/model.onnx            fusion + head (and encoders trained inside the model): x{i}, mask{i} -> logits
    DIR/encoders/COLUMN.onnx  each frozen encoder that exports (EfficientNet-Lite0, MiniLM, ...): its features
    DIR/export.json           inputs in order (column, role, encoder, preprocessing, shape), the task, parity
    DIR/parity.json           max abs differences ONNX Runtime vs PyTorch, and on what they were measured
    DIR/task.json             the run's task (classes, target scaling) to turn logits into labels

Parity is measured on real rows when `samples` (a table with the run's columns) is given, otherwise
on random features (said so in parity.json): the head on the same inputs, each encoder on the same
decoded batch, and end to end (PyTorch eager encoders + PyTorch head against ONNX Runtime for both).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..encoders.materialize import is_cached
from ..encoders.onnx_runtime import fast_forward
from ..errors import PolymodalError
from ..runs.files import read_json, write_json
from .graph import OPSET, export_head, graph_inputs, sample_inputs
from .runtime import OnnxHead, TorchHead

FORMATS = ("onnx",)


def export_run(run: str | Path, out: str | Path, *, samples=None, rows: int = 32, fmt: str = "onnx") -> dict:
    """Export `run` into `out`; returns the parity report (also written to out/parity.json)."""
    from ..predict.predictor import Predictor
    from ..runs.directory import run_kind

    if fmt not in FORMATS:
        raise PolymodalError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    if run_kind(run) != "predictor":
        raise PolymodalError(f"{run}: only predictor runs (polymodal fit) export to ONNX; this is a "
                             f"{run_kind(run)} run")
    p = Predictor.load(run)
    specs = graph_inputs(p.model_)  # raises, naming the columns, before any work
    cells = _sample_cells(p, samples, rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))  # same disk: renames are atomic
    try:
        encoders = _export_encoders(p, cells, work)
        inputs, masks = _model_inputs(p, cells, encoders, specs, rows, eager=False)
        feed = {**{s.name: inputs[s.column] for s in specs}, **{s.mask: masks[s.column] for s in specs}}
        export_head(p.model_, work / "model.onnx", sample=feed)
        parity = _parity(p, cells, encoders, specs, rows, work / "model.onnx", inputs, masks)
        write_json(work / "parity.json", parity)
        write_json(work / "task.json", read_json(Path(run) / "task.json"))
        write_json(work / "export.json", _manifest(p, run, specs, encoders, parity))
        _move_into(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return parity


def _sample_cells(p, samples, rows: int) -> dict[str, list] | None:
    """Up to `rows` decoded-ready cells per model column from a real table, or None (synthetic)."""
    if samples is None:
        return None
    from ..data.table import read_table
    from ..encoders.materialize import cell_values

    table = read_table(samples)
    table.df = table.df.head(rows).reset_index(drop=True)
    if len(table.df) == 0:
        raise PolymodalError(f"{table.source}: no rows to check the export on")
    return {c: cell_values(table, c, p.schema_.modalities[c]) for c in p.model_.modalities}


def _export_encoders(p, cells, work: Path) -> dict[str, dict]:
    """Per cached column: the encoder's ONNX file (exported through encoders/onnx_runtime) and its parity."""
    out = {}
    for column in p.model_.modalities:
        encoder = p.encoders_[column]
        if not is_cached(encoder):
            continue
        entry = {"encoder": encoder.name, "preprocessing": encoder.loader().id, "onnx": None}
        try:
            fast = fast_forward(encoder, backend="onnx")
            fast(_decoded(encoder, cells[column] if cells else None))  # exports, then checks parity
            target = work / "encoders" / f"{_slug(column)}.onnx"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fast.runtime.path, target)
            entry.update(onnx=f"encoders/{target.name}", parity=fast.parity)
        except PolymodalError as exc:  # stays in PyTorch: said in export.json, not hidden
            entry["reason"] = str(exc)
        out[column] = entry
    return out


def _decoded(encoder, cells: list | None, limit: int = 8):
    loader = encoder.loader()
    present = [c for c in (cells or []) if c is not None][:limit]
    items = [loader(c) for c in present] if present else [loader.empty(), loader.empty()]
    return torch.stack(items) if isinstance(items[0], torch.Tensor) else items


def _model_inputs(p, cells, encoders, specs, rows: int, *, eager: bool):
    """Model inputs for the sample rows: features from ONNX Runtime (or PyTorch eager) for cached columns."""
    if cells is None:
        sample = sample_inputs(specs, batch=rows, seed=2)
        return {s.column: sample[s.name] for s in specs}, {s.column: sample[s.mask] for s in specs}
    from ..encoders.online import ColumnEncoder

    inputs, masks = {}, {}
    for column in p.model_.modalities:
        encoder = p.encoders_[column]
        loaded = [None if c is None else encoder.loader()(c) for c in cells[column]]
        col = ColumnEncoder(encoder, backend="torch" if eager else "auto")
        inputs[column], masks[column] = col(loaded)
    return inputs, masks


def _parity(p, cells, encoders, specs, rows, path, inputs, masks) -> dict:
    head = OnnxHead(path, specs)
    torch_head = TorchHead(p.model_)
    ref = torch_head(inputs, masks).numpy()
    report = {"samples": "real rows" if cells else "random features", "rows": len(ref),
              "head_max_abs_diff": float(np.abs(head(inputs, masks).numpy() - ref).max()),
              "encoders": {c: e.get("parity") for c, e in encoders.items()}}
    if cells is not None and any(e.get("onnx") for e in encoders.values()):
        eager_in, _ = _model_inputs(p, cells, encoders, specs, rows, eager=True)
        eager = torch_head(eager_in, masks).numpy()
        report["end_to_end_max_abs_diff"] = float(np.abs(head(inputs, masks).numpy() - eager).max())
    return report


def _manifest(p, run, specs, encoders, parity) -> dict:
    columns = []
    for s in specs:
        enc = p.encoders_[s.column]
        entry = encoders.get(s.column, {})
        columns.append({**s.to_dict(), "role": p.schema_.modalities[s.column], "encoder": enc.name,
                        "encoder_config": enc.config(), "preprocessing": enc.loader().id,
                        "encoder_onnx": entry.get("onnx"), "encoder_note": entry.get("reason")})
    return {"format": "onnx", "opset": OPSET, "polymodal": __version__, "run": str(Path(run).resolve()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "graph": "model.onnx", "output": "logits",
            "inputs": columns, "parity": parity}


def _move_into(work: Path, out: Path) -> None:
    """Each finished file replaces its namesake in `out` (a reader never sees half a file)."""
    for src in sorted(work.rglob("*")):
        if src.is_file():
            dst = out / src.relative_to(work)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "column"
