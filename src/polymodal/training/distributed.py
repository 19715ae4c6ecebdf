"""Training on several processes: `torchrun --nproc_per_node=N -m polymodal fit ...` (gloo on CPU, nccl on GPU).

Every rank runs the same fit: the same seeded split, the same features (the cache is shared), the same
candidates in the same order. Only each optimiser step is shared out:

- `--batch-size` is the **global** batch. Every rank builds the same seeded order, cuts each batch into
  `size` contiguous slices (`local_rows`) and runs its own slice;
- each rank's loss is its slice's part of the global batch's loss (a weighted mean scaled by its share of
  the weight, `share`), and the gradients are **summed** across ranks (`sync_gradients`), so the step equals
  one process's step on the whole batch and results do not depend on the world size;
- a contrastive loss gathers the other ranks' embeddings **with gradient** (`gather`) and scores its own
  rows against all columns, as open_clip's `local_loss` + `gather_with_grad` do (gathering without gradient
  changes training: measured here, 5e-3 from one process after 12 steps);
- dropout is seeded per rank; decisions that read a clock (time budgets, early stopping) are rank 0's,
  broadcast (`decide`), since a rank that stops alone leaves the others waiting forever;
- rank 0 writes checkpoints and the run directory; every rank can resume from them, whatever world size
  wrote them.

Outside torchrun (no WORLD_SIZE, or 1) everything here is the identity and costs nothing.

The gradients are all-reduced by hand rather than by `DistributedDataParallel`: the loop may run several
forward passes before one backward (adversarial training), which DDP's reducer refuses, and a parameter
without a gradient on every rank must stay without one (AdamW then skips it, as in one process) where DDP
would hand it zeros.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import PolymodalError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise PolymodalError(f"environment variable {name}={value!r} is not an integer (torchrun sets it)") from None


_ALONE = [0]  # > 0 inside `alone()`


@contextmanager
def alone():
    """Work that one rank does by itself (rank 0 saving the run and writing its report): inside, `world()` is a
    single process, so nothing in it waits for ranks that are not there (a feature extraction's barrier)."""
    _ALONE[0] += 1
    try:
        yield
    finally:
        _ALONE[0] -= 1


def world() -> World:
    """This process's place, from torchrun's RANK and WORLD_SIZE; the process group is started on first use."""
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1 or _ALONE[0]:
        return World()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(_env_int("LOCAL_RANK", 0))
        # A generous timeout: ranks may reach a collective far apart (one extracts a larger share of features, rank 0
        # writes a checkpoint); POLYMODAL_DIST_TIMEOUT (seconds) changes it.
        from datetime import timedelta

        seconds = _env_int("POLYMODAL_DIST_TIMEOUT", 7200)
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=seconds))
    return World(dist.get_rank(), dist.get_world_size())


def local_rows(idx: torch.Tensor, w: World) -> torch.Tensor:
    """This rank's contiguous slice of a global batch `idx` (slices differ in size by at most one row, and the
    gathered slices in rank order are the batch again)."""
    return torch.tensor_split(idx, w.size)[w.rank] if w.active else idx


def slice_sizes(n: int, w: World) -> list[int]:
    return [len(part) for part in torch.tensor_split(torch.arange(n), w.size)]


def share(local: torch.Tensor | float, total: torch.Tensor | float) -> torch.Tensor | float:
    """The factor that turns a weighted mean over a rank's rows into its part of the global batch's mean: its
    rows' weight over the batch's. Summed over ranks, the parts are the mean over the batch."""
    return local / total


STATS = {"sync_seconds": 0.0, "syncs": 0}  # all-reduce time of this process, for benchmarks/bench_distributed.py


def sync_gradients(params: list[torch.nn.Parameter], w: World) -> float:
    """Sum every parameter's gradient across ranks in one all-reduce; a parameter no rank gave a gradient keeps
    none. Returns the seconds spent (the benchmark's per-step all-reduce time)."""
    if not w.active:
        return 0.0
    started = time.perf_counter()
    where = collective_device()
    used = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=where)
    flat = torch.cat([used] + [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float().to(where)
                               for p in params])
    dist.all_reduce(flat)
    used, offset = flat[:len(params)], len(params)
    for i, p in enumerate(params):
        n = p.numel()
        if used[i] > 0:
            grad = flat[offset:offset + n].view_as(p).to(p.dtype).to(p.device)
            if p.grad is None:
                p.grad = grad.clone()
            else:
                p.grad.copy_(grad)
        offset += n
    seconds = time.perf_counter() - started
    STATS["sync_seconds"] += seconds
    STATS["syncs"] += 1
    return seconds


def _device_type() -> str:
    return "cuda" if dist.get_backend() == "nccl" else "cpu"


def collective_device() -> torch.device:
    """Where tensors must be for a collective: the GPU under nccl, else the CPU."""
    return torch.device(_device_type())


def sum_across(x: torch.Tensor) -> torch.Tensor:
    """`x` summed over the ranks."""
    out = x.to(collective_device()).clone()
    dist.all_reduce(out)
    return out.to(x.device)


def broadcast_module(module: torch.nn.Module, w: World) -> None:
    """Rank 0's parameters and buffers on every rank (what DDP does when it wraps a model)."""
    if not w.active:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        data = tensor.data.to(_device_type())
        dist.broadcast(data, src=0)
        tensor.data.copy_(data.to(tensor.device))


def broadcast_buffers(module: torch.nn.Module, w: World) -> None:
    """Rank 0's buffers (batch-norm running statistics) on every rank: each rank's came from its own slices."""
    if not w.active:
        return
    for tensor in module.buffers():
        if tensor.is_floating_point():
            data = tensor.data.to(_device_type())
            dist.broadcast(data, src=0)
            tensor.data.copy_(data.to(tensor.device))


def decide(value, w: World):
    """Rank 0's `value` (a bool, a number, any JSON-like object) on every rank."""
    if not w.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_same(what: str, value, w: World) -> None:
    """Refuse, on every rank, to go on when the ranks disagree on `value` (they would wait for each other
    forever): the replicated parts of a fit must see the same rows."""
    if not w.active:
        return
    values = [None] * w.size
    dist.all_gather_object(values, value)
    if any(v != values[0] for v in values):
        raise PolymodalError(f"the {w.size} ranks disagree on {what}: " + ", ".join(
            f"rank {r}: {v}" for r, v in enumerate(values)) + ". Every rank must read the same table with the "
            "same arguments and the same feature cache")


def check_in_step(module: torch.nn.Module, w: World) -> None:
    """After training: refuse, on every rank, weights that differ between ranks (they would mean a step that was
    not shared); a checksum of every parameter, compared exactly, since the ranks run the same operations."""
    if w.active:
        total = sum(float(p.detach().double().sum()) for p in module.parameters())
        check_same("the trained weights (a checksum of every parameter)", repr(total), w)


def barrier(w: World) -> None:
    if w.active:
        dist.barrier()


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward hands each rank the sum over ranks of the gradient of its own rows.

    Written with blocking collectives rather than torch's functional `all_gather_single_autograd`: that one's
    asynchronous work, still pending when a rank closed its process group, aborted the process now and then under
    load ("terminate called without an active exception", in 2 of about 10 test runs beside other work). The
    backward all-reduces the whole gradient and keeps this rank's slice (gloo has no reduce-scatter)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, top: int, rank: int, size: int) -> torch.Tensor:
        ctx.top, ctx.rank = top, rank
        full = x.new_empty((top * size, *x.shape[1:]))
        dist.all_gather_single(full, x)
        return full

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total[ctx.rank * ctx.top:(ctx.rank + 1) * ctx.top], None, None, None


def gather(x: torch.Tensor, sizes: list[int], w: World, *, grad: bool = True) -> torch.Tensor:
    """Every rank's rows of `x` (rank r holds `sizes[r]` of them), in rank order. With `grad`, the gradient
    flows back to the rank that computed each row (the all-gather's backward is a reduce-scatter)."""
    if not w.active:
        return x
    top = max(sizes)
    dtype, home = x.dtype, x.device
    wide = x if dtype != torch.bool else x.to(torch.uint8)  # gloo gathers no bools
    wide = wide.to(collective_device())  # nccl gathers CUDA tensors only (validation outputs are on the CPU)
    if len(wide) < top:
        wide = torch.cat([wide, wide.new_zeros((top - len(wide), *wide.shape[1:]))])
    if grad and wide.requires_grad:
        full = _GatherWithGrad.apply(wide.contiguous(), top, w.rank, w.size)
    else:
        full = wide.new_empty((top * w.size, *wide.shape[1:]))
        dist.all_gather_single(full, wide.contiguous())
    parts = [full[r * top:r * top + n] for r, n in enumerate(sizes)]
    out = torch.cat(parts).to(home)
    return out.to(torch.bool) if dtype == torch.bool else out


def _trailing(out):
    if isinstance(out, dict):
        return {k: _trailing(v) for k, v in sorted(out.items())}
    return (tuple(out.shape[1:]), str(out.dtype)) if isinstance(out, torch.Tensor) else type(out).__name__


def same_trailing_shapes(out, w: World) -> bool:
    """Whether every rank's output (a tensor or a dict of them) has the same shapes past the rows: then the
    ranks' slices can be gathered into one."""
    if not w.active:
        return True
    shapes = [None] * w.size
    dist.all_gather_object(shapes, _trailing(out))
    return all(s == shapes[0] for s in shapes) and "list" not in str(shapes[0])


def gather_outputs(out, sizes: list[int], w: World):
    """`gather` over a model's output: a tensor or a dict of them (validation on shards, no gradient)."""
    if isinstance(out, dict):
        return {k: gather_outputs(v, sizes, w) for k, v in out.items()}
    return gather(out, sizes, w, grad=False)


class SyncedOptimizer:
    """An optimiser whose `step` first sums its parameters' gradients across ranks, each rank's scaled by its
    share of the batch: for trainers whose models step their own optimisers (the generators' `train_step`, a
    GAN's two). Everything else is the wrapped optimiser's (state_dict for checkpoints, param_groups, ...)."""

    def __init__(self, optimizer: torch.optim.Optimizer, w: World):
        self._optimizer, self._world, self.share = optimizer, w, 1.0

    def step(self, closure=None):
        params = [p for group in self._optimizer.param_groups for p in group["params"]]
        for p in params:
            if p.grad is not None:
                p.grad.mul_(self.share)
        sync_gradients(params, self._world)
        return self._optimizer.step(closure)

    def __getattr__(self, name):
        return getattr(self._optimizer, name)
