"""Fusion training throughput on cached features: samples/s per epoch for every fusion.

Inputs are random features shaped like the real ones (EfficientNet-Lite0 1280-d, MiniLM 384-d,
MFCC statistics 140-d) with about 80% of modalities present, so only the fusion and the head
are measured; the baseline is a linear classifier on the concatenated features trained by the
same loop in the same run. Target: >= 20,000 samples/s for concat, gated and attention.

With `--threads 1 2` the whole table is measured once per torch thread count: on a shared machine a
second intra-op thread is often descheduled, and every parallel region then waits for it, so the
one-thread column is the steadier figure and the two-thread one the target's.

    python benchmarks/bench_fusion.py [--rows 20000] [--epochs 2] [--repeats 3] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import shlex
import sys

import torch
from torch import nn

from common import load_average, machine, median_time, write_section
from polymodal.fusion import build_fusion, fusion_names
from polymodal.predict.model import MultimodalModel
from polymodal.tasks import Classification
from polymodal.training.data import ArrayData
from polymodal.training.loop import train

DIMS = {"audio": 140, "image": 1280, "text": 384}


class Linear(nn.Module):
    """The baseline: one linear layer over the concatenated (masked) features."""

    def __init__(self, classes: int):
        super().__init__()
        self.fc = nn.Linear(sum(DIMS.values()), classes)

    def forward(self, inputs, masks):
        return self.fc(torch.cat([inputs[m] * masks[m][:, None] for m in sorted(DIMS)], 1))


def data(rows: int, classes: int = 10) -> tuple[ArrayData, Classification]:
    import pandas as pd

    g = torch.Generator().manual_seed(0)
    inputs = {m: torch.randn(rows, d, generator=g) for m, d in DIMS.items()}
    masks = {m: torch.rand(rows, generator=g) < 0.8 for m in DIMS}
    y = torch.randint(0, classes, (rows,), generator=g)
    return ArrayData(inputs, masks, y), Classification("y").fit(pd.Series(y.tolist()))


def model_for(name: str, classes: int, hidden: int) -> nn.Module:
    if name == "linear baseline":
        return Linear(classes)
    fusion = build_fusion(name, in_dims=DIMS, out_dim=hidden, hidden=hidden)
    if fusion.output_is_logits:
        fusion = build_fusion(name, in_dims=DIMS, out_dim=classes, hidden=hidden)
    return MultimodalModel({}, DIMS, fusion, classes, modality_dropout=0.2)


def throughput(name: str, arrays: ArrayData, task: Classification, *, epochs: int, batch: int, hidden: int,
               repeats: int) -> float:
    def run():
        torch.manual_seed(0)
        train(model_for(name, task.out_dim, hidden), task, arrays, None, epochs=epochs, batch_size=batch,
              progress=False)

    return len(arrays) * epochs / median_time(run, repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()],
                        help="torch intra-op thread counts to measure the table with")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    arrays, task = data(args.rows)
    names = ["linear baseline", *fusion_names()]
    load_before = load_average()
    rates: dict[int, dict[str, float]] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        rates[threads] = {}
        for name in names:
            rates[threads][name] = throughput(name, arrays, task, epochs=args.epochs, batch=args.batch_size,
                                              hidden=args.hidden, repeats=args.repeats)
            print(f"{threads} thread(s) {name:16s} {rates[threads][name]:10,.0f} samples/s", flush=True)
    facts = {k: v for k, v in machine().items() if k != "torch threads"}
    lines = ["## Fusion training throughput on cached features", "",
             f"Command: `python benchmarks/bench_fusion.py {shlex.join(argv if argv is not None else sys.argv[1:])}`",
             "", "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items())
             + f"; before the run: {load_before}, after: {load_average()}.", "",
             f"{args.rows:,} rows of features ({', '.join(f'{m} {d}-d' for m, d in DIMS.items())}, ~80% present), "
             f"batch {args.batch_size}, hidden {args.hidden}, AdamW, modality dropout 0.2, {args.epochs} epochs per "
             f"run; samples/s = rows x epochs / median wall time of {args.repeats} runs, per torch thread count. "
             "Target: >= 20,000 samples/s for concat, gated and attention on 2 cores. On a shared, busy machine "
             "the two-thread figures collapse (each parallel region waits for a descheduled thread); the "
             "one-thread column and the ratios to the linear baseline are the steadier figures.", "",
             "| model | " + " | ".join(f"samples/s, {t} thread{'s' * (t > 1)} | vs linear" for t in args.threads)
             + " | target met (2 threads) |",
             "|---|" + "---:|---:|" * len(args.threads) + "---|"]
    for name in names:
        cells = " | ".join(f"{rates[t][name]:,.0f} | {rates[t][name] / rates[t]['linear baseline']:.2f}"
                           for t in args.threads)
        target = "-"
        if name in ("concat", "gated", "attention") and 2 in rates:
            target = "yes" if rates[2][name] >= 20000 else "no"
        lines.append(f"| {name} | {cells} | {target} |")
    if not args.no_write:
        print("written to", write_section("fusion", "\n".join(lines)))


if __name__ == "__main__":
    main()
