"""Checkpoints that survive `kill -9`: every file is written under a new name, then one small
JSON file is atomically replaced to point at them; older files are removed afterwards.
Weights and optimizer tensors are safetensors; everything else is JSON (no pickle)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import PolymodalError


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


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


def save_checkpoint(folder: Path, *, epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler, best_state: dict[str, torch.Tensor] | None, extra: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"epoch{epoch:04d}"
    save_tensors(model.state_dict(), folder / f"{tag}.model.safetensors")
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    save_tensors(opt_tensors, folder / f"{tag}.optim.safetensors")
    if best_state is not None:
        save_tensors(best_state, folder / f"{tag}.best.safetensors")
    commit_checkpoint(folder, {"epoch": epoch, "tag": tag, "optimizer": opt_meta, "scheduler": scheduler.state_dict(),
                               "has_best": best_state is not None, **extra})


def commit_checkpoint(folder: Path, pointer: dict) -> None:
    """Point checkpoint.json at the files of `pointer["tag"]` (atomically), then remove older epochs' files:
    an interrupt at any moment leaves a pointer to a complete set."""
    atomic_write_text(folder / "checkpoint.json", json.dumps(pointer))
    for old in folder.glob("epoch*.safetensors"):  # only after the pointer moved on
        if not old.name.startswith(pointer["tag"]):
            old.unlink(missing_ok=True)


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler
                    ) -> tuple[dict, dict[str, torch.Tensor] | None] | None:
    """Restore model/optimizer/scheduler in place; return (pointer JSON, best weights) or None."""
    pointer_path = folder / "checkpoint.json"
    if not pointer_path.exists():
        return None
    try:
        pointer = json.loads(pointer_path.read_text())
        tag = pointer["tag"]
        model.load_state_dict(load_file(str(folder / f"{tag}.model.safetensors")))
        optimizer.load_state_dict(_unflatten_optimizer(load_file(str(folder / f"{tag}.optim.safetensors")),
                                                       pointer["optimizer"]))
        scheduler.load_state_dict(pointer["scheduler"])
        best = load_file(str(folder / f"{tag}.best.safetensors")) if pointer["has_best"] else None
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        # json and safetensors errors are ValueErrors/SafetensorErrors, a deleted file an OSError
        raise PolymodalError(f"{folder}: the checkpoint to resume from is damaged or incomplete ({exc}); "
                             "fit again without --resume to start over") from exc
    return pointer, best
