"""Run by tests/training/test_distributed.py, in one process or under `torchrun --nproc_per_node=2`: trains a
small fused classifier or a two-column aligner with the shared loop, then rank 0 writes the final weights.

    python ddp_worker.py KIND OUT [--epochs E] [--resume] [--no-grad-gather]

KIND: fusion | align. Every rank builds the same data and model from fixed seeds; dropout is 0, so one process
and N ranks take the same steps (training/distributed.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file

from polymodal.alignment.model import AlignmentModel
from polymodal.alignment.task import AlignmentTask
from polymodal.fusion import build_fusion
from polymodal.predict.model import MultimodalModel
from polymodal.tasks.classification import Classification
from polymodal.training import distributed
from polymodal.training.data import ArrayData
from polymodal.training.loop import train

ROWS, VAL = 90, 30  # 90 training rows at a global batch of 16: the last batch has 10, split 5 + 5


def fusion_job():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(ROWS + VAL, 12, generator=g), torch.randn(ROWS + VAL, 6, generator=g)
    y = ((a[:, 0] + b[:, 1]) > 0).long() + (a[:, 2] > 1).long()
    masks = {"a": torch.ones(ROWS + VAL, dtype=torch.bool), "b": torch.rand(ROWS + VAL, generator=g) > 0.2}
    data = ArrayData({"a": a, "b": b}, masks, y)
    torch.manual_seed(0)
    fusion = build_fusion("gated", in_dims={"a": 12, "b": 6}, out_dim=16, hidden=16, dropout=0.0)
    model = MultimodalModel({}, {"a": 12, "b": 6}, fusion, 3, head_dropout=0.0)
    task = Classification("y", imbalance="weighted")  # class weights: the rank's share is by weight, not rows
    import pandas as pd

    task.fit(pd.Series(y.tolist()).astype(str))
    return model, task, data


def align_job():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(ROWS + VAL, 10, generator=g)
    b = a[:, :8] @ torch.randn(8, 8, generator=g) + 0.1 * torch.randn(ROWS + VAL, 8, generator=g)
    keys = torch.arange(ROWS + VAL) // 2 * 0 + torch.arange(ROWS + VAL)
    keys[1::7] = keys[0::7][:len(keys[1::7])]  # some rows share a key: several positives
    masks = {"a": torch.ones(ROWS + VAL, dtype=torch.bool), "b": torch.rand(ROWS + VAL, generator=g) > 0.15}
    data = ArrayData({"a": a, "b": b}, masks, keys)
    torch.manual_seed(0)
    model = AlignmentModel({"a": 10, "b": 8}, {}, dim=8, hidden=16, dropout=0.0)
    return model, AlignmentTask(["a", "b"], model), data


def gather_without_grad(x, sizes, w, *, grad=True):
    """open_clip's default: the other ranks' rows gathered as constants, this rank's own rows put back with
    their gradient. The negative control: it must not match one process."""
    full = ORIGINAL_GATHER(x.detach(), sizes, w, grad=False)
    if not grad or not x.requires_grad:
        return full
    start = sum(sizes[:w.rank])
    return torch.cat([full[:start], x, full[start + sizes[w.rank]:]])


ORIGINAL_GATHER = distributed.gather


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["fusion", "align"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--stop-after", type=int, default=None, help="epochs to run of --epochs (a kill)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--no-grad-gather", action="store_true")
    args = parser.parse_args()
    if args.no_grad_gather:
        distributed.gather = gather_without_grad
    model, task, data = fusion_job() if args.kind == "fusion" else align_job()
    train_rows, val_rows = data.subset(torch.arange(ROWS)), data.subset(torch.arange(ROWS, ROWS + VAL))
    stop = {"epochs": 0}

    def interrupt(row: dict) -> None:  # a fit killed after `--stop-after` epochs, its checkpoint written
        stop["epochs"] += 1
        if args.stop_after is not None and stop["epochs"] >= args.stop_after:
            raise SystemExit(0)

    w = distributed.world()
    try:
        result, _ = train(model, task, train_rows, val_rows, epochs=args.epochs, batch_size=16, lr=3e-3,
                          patience=99, seed=5, checkpoint_dir=args.out / "ckpt", resume=args.resume, progress=False,
                          on_epoch_end=interrupt)
    except SystemExit:  # the "kill": every rank stops at the same epoch; close the group as a finished run would,
        if w.active:  # or gloo's threads may abort the exit ("terminate called without an active exception")
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
            _leave()
        raise
    if w.main:
        args.out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.out / "final.safetensors")
        (args.out / "loss.txt").write_text(repr([r["train_loss"] for r in result.history]))
    if w.active:  # every rank done with every collective before the connections close (gloo aborted otherwise)
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
        _leave()


def _leave() -> None:
    """Exit 0 now, past the interpreter's teardown: even with the group destroyed, gloo's threads sometimes
    abort a rank's ordinary exit under load ("terminate called without an active exception", exit -6; seen in
    test_resume_from_two_ranks_on_one after a barrier and destroy_process_group). Everything the test reads is
    written and closed by now."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
