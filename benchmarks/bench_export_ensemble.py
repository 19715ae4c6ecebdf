"""ONNX export of a default fit's saved ensemble (fusions + LightGBM's trees as tensors + k nearest neighbours): the
graph's size and export time, parity with PyTorch on real rows, and the head's latency on ONNX Runtime against
PyTorch (the same cached features in, logits out).

One default `Predictor` fit on `digits` (seed 0; the cached features are read, not extracted), its saved model an
ensemble when ensemble selection wins (it does on every seed of bench_baselines.py). Latency: median of
`--repeats` timed calls after one warm-up, batches of 1 and 256 test rows, one process, torch threads as set.

    python benchmarks/bench_export_ensemble.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import command_line, head, median_time, publish
from polymodal import Predictor
from polymodal.data.recipes import build
from polymodal.data.table import read_table
from polymodal.encoders.materialize import materialize
from polymodal.export.graph import export_head, graph_inputs
from polymodal.export.runtime import OnnxHead, TorchHead
from polymodal.paths import data_home


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    table = build("digits", data_home() / "digits")
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        p = Predictor("label", encoders={"image": "efficientnet-lite0", "audio": "mfcc"}, seed=0, progress=False)
        started = time.time()
        p.fit(table, out=work / "run")
        fit_s = time.time() - started
        members = [type(m).__name__ for m in getattr(p.model_, "members", [p.model_])]
        trees = [m for m in getattr(p.model_, "members", []) if type(m).__name__ == "BoostedTrees"]
        specs = graph_inputs(p.model_)
        started = time.time()
        path, _ = export_head(p.model_, work / "head.onnx")
        export_s = time.time() - started
        rows = read_table(table)
        rows.df = rows.df[rows.df["split"] == "test"].head(256).reset_index(drop=True)
        arrays = materialize(rows, p.schema_, p.encoders_, progress=False)
        inputs, masks = {c: arrays.inputs[c] for c in p.model_.modalities}, arrays.masks
        onnx, eager = OnnxHead(path, specs), TorchHead(p.model_)
        diff = float((onnx(inputs, masks) - eager(inputs, masks)).abs().max())
        lines = ["| batch | PyTorch ms | ONNX Runtime ms | ONNX / PyTorch |", "|---:|---:|---:|---:|"]
        for batch in (1, 256):
            x = {c: v[:batch] for c, v in inputs.items()}
            m = {c: v[:batch] for c, v in masks.items()}
            with torch.inference_mode():
                t_torch = median_time(lambda x=x, m=m: eager(x, m), args.repeats)
            t_onnx = median_time(lambda x=x, m=m: onnx(x, m), args.repeats)
            lines.append(f"| {batch} | {1000 * t_torch:.1f} | {1000 * t_onnx:.1f} | {t_onnx / t_torch:.2f} |")
        n_trees = len(trees[0].lightgbm().dump_model()["tree_info"]) if trees else 0
        opening = head("ONNX export of a saved ensemble: size, parity, latency", command_line(
            "bench_export_ensemble.py", argv), f"digits, one default fit (seed 0, {fit_s:.0f} s): the saved model is "
            f"`{p.best_.name}` with members {', '.join(members)}; {n_trees} trees. Graph: "
            f"{path.stat().st_size / 1e6:.1f} MB, exported in {export_s:.1f} s. Parity on {len(rows.df)} real test "
            f"rows (cached features in, logits out): max abs difference {diff:.1e}. Latency: median of "
            f"{args.repeats} calls after a warm-up, cached features in, logits out.")
        publish("export-ensemble", opening, lines, write=not args.no_write)
        print("members:", members, "parity:", np.format_float_scientific(diff, 2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
