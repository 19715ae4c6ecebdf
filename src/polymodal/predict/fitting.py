"""Training and comparing candidates: each fusion, each modality alone, and their ensemble.

Each candidate trains in its own checkpoint folder and, once finished, leaves
its weights and metrics in `candidates/`, so an interrupted `fit --fusion all`
resumes where it stopped and loses at most one epoch of one candidate.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..encoders.base import Encoder
from ..fusion.base import build_fusion
from ..runs.files import load_tensors, read_json, save_tensors, write_json
from ..tasks.base import Task
from ..training.data import ArrayData
from ..training.loop import predict_logits, train
from .fitted import FittedModel
from .model import MultimodalModel

SELECTABLE = ("fusion", "probe", "classical")  # the kinds of candidate the saved model is chosen from


@dataclass
class Candidate:
    name: str  # "concat", "gated", ..., "linear-probe", "lightgbm", "knn", or "only:<column>"
    kind: str  # "fusion" | "probe" | "classical" | "unimodal" | "ensemble"
    fusion: str
    columns: list[str]
    model: MultimodalModel | None = None
    history: list[dict] = field(default_factory=list)
    val: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)
    seconds: float = 0.0
    best_epoch: int = -1
    parts: list[dict] = field(default_factory=list)  # an ensemble's or a bag's members: name, kind, fusion, ...
    # the logits and targets it was chosen on, when not the validation split's (a bag's out-of-fold predictions)
    selection: tuple | None = None
    privacy: dict | None = None  # a private fit's budget, noise and epsilon spent (training/private.py)


def build_model(fusion: str, columns: list[str], encoders: dict[str, Encoder], out_dim: int, *,
                hidden: int, dropout: float, modality_dropout: float, fusion_options: dict | None = None,
                seed: int = 0) -> MultimodalModel | FittedModel:
    """Fresh model over `columns`; trainable encoders are copied so candidates never share weights. A classical
    model's name (predict/classical.py) gives that model, empty, to load its saved weights into."""
    torch.manual_seed(seed)
    from ..encoders.materialize import is_cached
    from .classical import saved_model

    classical = saved_model(fusion, columns, encoders, out_dim)
    if classical is not None:
        return classical

    trainable = {c: copy.deepcopy(encoders[c]) for c in columns if not is_cached(encoders[c])}
    cached = {c: encoders[c].out_dim for c in columns if is_cached(encoders[c])}
    in_dims = {c: encoders[c].out_dim for c in columns}
    probe = build_fusion(fusion, in_dims=in_dims, out_dim=1)
    fusion_out = out_dim if probe.output_is_logits else hidden
    fusion_module = build_fusion(fusion, in_dims=in_dims, out_dim=fusion_out, **_fusion_kwargs(
        fusion_options or {}, hidden, dropout))
    return MultimodalModel(trainable, cached, fusion_module, out_dim, modality_dropout=modality_dropout,
                           head_dropout=dropout)


def _fusion_kwargs(options: dict, hidden: int, dropout: float) -> dict:
    return {"hidden": hidden, "dropout": dropout, **options}


def fit_candidate(cand: Candidate, task: Task, data: dict[str, ArrayData], *, workdir: Path | None,
                  resume: bool, train_args: dict, model: MultimodalModel) -> Candidate:
    """Train one candidate (or reload it when it already finished in `workdir`)."""
    cand.model = model
    done = workdir / "candidates" / f"{_slug(cand.name)}.json" if workdir else None
    from ..training.distributed import decide, world

    # rank 0's folder decides under torchrun (the other ranks' copies may lag or be empty on another machine)
    if resume and done is not None and decide(done.exists(), world()):
        saved = read_json(done)
        model.load_state_dict(load_tensors(done.with_suffix(".safetensors")))
        cand.history, cand.seconds, cand.best_epoch = saved["history"], saved["seconds"], saved["best_epoch"]
        cand.privacy = saved.get("privacy")
    else:
        ckpt = workdir / "checkpoints" / _slug(cand.name) if workdir else None
        started = time.time()
        result, best = train(model, task, data["train"].only(cand.columns), _only(data["val"], cand.columns),
                             checkpoint_dir=ckpt, resume=resume, desc=cand.name, **train_args)
        model.load_state_dict(best)
        cand.history, cand.best_epoch = result.history, result.best_epoch
        privacy = train_args.get("privacy")
        cand.privacy = privacy.figures() if privacy is not None else None
        cand.seconds = result.seconds if result.resumed_from is not None else time.time() - started
        if done is not None:
            done.parent.mkdir(parents=True, exist_ok=True)
            save_tensors(model.state_dict(), done.with_suffix(".safetensors"))
            write_json(done, {"history": cand.history, "seconds": cand.seconds, "best_epoch": cand.best_epoch,
                              **({"privacy": cand.privacy} if cand.privacy else {})})
    score(cand, task, data)
    return cand


def score(cand: Candidate, task: Task, data: dict[str, ArrayData]) -> None:
    """`cand`'s metrics on the validation and test rows of `data`; on its own `selection` predictions instead of
    the validation rows when it has them (a bag's out-of-fold predictions)."""
    if cand.selection is not None:
        cand.val = task.metrics(*cand.selection)
    for split in ("val", "test") if cand.selection is None else ("test",):
        part = data.get(split)
        if part is not None and len(part):
            logits = predict_logits(cand.model, part.only(cand.columns))
            setattr(cand, split, task.metrics(logits, part.targets))


def _only(part: ArrayData | None, columns: list[str]) -> ArrayData | None:
    return part.only(columns) if part is not None and len(part) else None


def _slug(name: str) -> str:
    return name.replace(":", "-").replace("/", "-")
