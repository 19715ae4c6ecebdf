"""Checkpoints that survive `kill -9`, one format for every job: the model, any number of optimizers
(a GAN has two), an optional scheduler and the best weights so far are written under new names, then
one small JSON pointer is atomically replaced to point at them; older files are removed afterwards.
Tensors are safetensors, everything else JSON (no pickle). A damaged checkpoint is a named error."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError

from ..errors import PolymodalError
from ..runs.files import load_tensors, read_json, save_tensors, write_json

POINTER = "checkpoint.json"


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, meta = {}, {"param_groups": state["param_groups"], "state": {}}
    for pid, pstate in state["state"].items():
        meta["state"][str(pid)] = {}
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{key}"] = value
                meta["state"][str(pid)][key] = "__tensor__"
            else:
                meta["state"][str(pid)][key] = value
    return tensors, meta


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state = {}
    for pid, pstate in meta["state"].items():
        state[int(pid)] = {k: tensors[f"{pid}.{k}"] if v == "__tensor__" else v for k, v in pstate.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: Path, *, epoch: int, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    scheduler=None, best_state: dict[str, torch.Tensor] | None = None, extra: dict | None = None
                    ) -> None:
    """Everything needed to continue after `epoch`; `extra` (history, counters) goes into the pointer."""
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"epoch{epoch:04d}"
    save_tensors(model.state_dict(), folder / f"{tag}.model.safetensors", durable=True)
    metas = {}
    for name, opt in optimizers.items():
        tensors, metas[name] = _flatten_optimizer(opt.state_dict())
        save_tensors(tensors, folder / f"{tag}.{name}.safetensors", durable=True)
    if best_state is not None:
        save_tensors(best_state, folder / f"{tag}.best.safetensors", durable=True)
    pointer = {"epoch": epoch, "tag": tag, "optimizers": metas, "has_best": best_state is not None,
               "scheduler": scheduler.state_dict() if scheduler is not None else None, **(extra or {})}
    write_json(folder / POINTER, pointer, durable=True)
    for old in folder.glob("epoch*.safetensors"):  # only after the pointer moved on
        if not old.name.startswith(f"{tag}."):
            old.unlink(missing_ok=True)


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    scheduler=None) -> tuple[dict, dict[str, torch.Tensor] | None] | None:
    """Restore model, optimizers and scheduler in place; return (pointer, best weights) or None when
    `folder` holds no checkpoint."""
    if not (folder / POINTER).exists():
        return None
    try:
        pointer = read_json(folder / POINTER)
        tag = pointer["tag"]
        model.load_state_dict(load_tensors(folder / f"{tag}.model.safetensors"))
        for name, opt in optimizers.items():
            opt.load_state_dict(_unflatten_optimizer(load_tensors(folder / f"{tag}.{name}.safetensors"),
                                                     pointer["optimizers"][name]))
        if scheduler is not None:
            scheduler.load_state_dict(pointer["scheduler"])
        best = load_tensors(folder / f"{tag}.best.safetensors") if pointer["has_best"] else None
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError, json.JSONDecodeError) as exc:
        # PolymodalError (a damaged JSON or safetensors file) is a ValueError; a deleted file an OSError;
        # weights of another shape a RuntimeError
        raise PolymodalError(f"{folder}: the checkpoint to resume from is damaged or incomplete ({exc}); "
                             "fit again without --resume to start over") from exc
    return pointer, best
