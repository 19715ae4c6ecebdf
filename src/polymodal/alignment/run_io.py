"""An Aligner's own files in its run directory (the envelope is runs/directory.py's):
schema.json, encoders.json, aligner.json (columns, dims, options, the chosen method), and the chosen
method's state in weights.safetensors: the contrastive heads' state dict, or a closed form's arrays
(named by its `tensors()`, methods/; `spoken` has none: its options say how it hears). Only the
chosen method is kept: it is what is served.
Runs written before methods existed have no `method` entry: contrastive."""

from __future__ import annotations

from pathlib import Path

import torch

from ..encoders.base import encoders_from_state, encoders_state
from ..encoders.materialize import is_cached
from ..runs.files import load_tensors, read_json, save_tensors, write_json
from ..schema import Schema
from .candidates import CONTRASTIVE
from .methods import build_method
from .spoken import NAME as SPOKEN
from .spoken import SpokenSpace


def save_state(a, run: Path) -> None:
    write_json(run / "schema.json", a.schema_.to_dict())
    write_json(run / "encoders.json", encoders_state(a.encoders_))
    cfg = {"columns": a.columns_, "dim": a.dim_, "loss": a.loss, "hidden": a.hidden, "dropout": a.dropout,
           "lock": a.lock or [], "method": a.method_}
    if a.method_ == CONTRASTIVE:
        write_json(run / "aligner.json", cfg | {"residual": a.model_.residual})
        save_tensors(a.model_.state_dict(), run / "weights.safetensors")
    else:
        write_json(run / "aligner.json", cfg | {"options": a.space_.options(), "space_dim": a.dim})
        save_tensors({k: torch.from_numpy(v) for k, v in a.space_.tensors().items()}, run / "weights.safetensors")


def load_state(a, run: Path) -> None:
    from .model import AlignmentModel
    from .task import AlignmentTask

    a.schema_ = Schema.from_dict(read_json(run / "schema.json"))
    a.encoders_ = encoders_from_state(read_json(run / "encoders.json"))
    cfg = read_json(run / "aligner.json")
    a.columns_, a.method_ = cfg["columns"], cfg.get("method", CONTRASTIVE)
    a.model_ = a.space_ = None
    if a.method_ == SPOKEN:
        a.space_ = SpokenSpace(dim=cfg["dim"], **cfg["options"])
        return
    if a.method_ != CONTRASTIVE:
        a.space_ = build_method(a.method_, a.columns_, cfg["space_dim"], **cfg["options"])
        a.space_.set_tensors({k: v.numpy() for k, v in load_tensors(run / "weights.safetensors").items()})
        return
    in_dims = {c: e.out_dim for c, e in a.encoders_.items()}
    trainable = {c: e for c, e in a.encoders_.items() if not is_cached(e)}
    a.model_ = AlignmentModel(in_dims, trainable, dim=cfg["dim"], hidden=cfg["hidden"], dropout=cfg["dropout"],
                              locked=cfg["lock"], loss=cfg["loss"], residual=cfg.get("residual", False))
    a.model_.load_state_dict(load_tensors(run / "weights.safetensors"))
    a.model_.eval()
    a.task_ = AlignmentTask(a.columns_, a.model_, cfg["loss"])


def method_rows(summary: dict) -> list[dict]:
    """One row per pair, direction and method: test (or eval split) and validation Recall@1, and chance."""
    validation = summary.get("selection", {}).get("validation", {})
    rows = []
    for pair, entry in summary.get("pairs", {}).items():
        methods = entry.get("methods") or {summary.get("method", CONTRASTIVE): entry["learned"]}
        for direction, chosen in entry["learned"].items():
            for name, scores in methods.items():
                rows.append({"pair": pair, "direction": direction, "method": name,
                             "chosen": name == summary.get("method"), "recall@1": scores[direction]["recall@1"],
                             "val_recall@1": validation.get(name, {}).get(direction),
                             "recall@10": scores[direction]["recall@10"], "mrr": scores[direction]["mrr"]})
            rows.append({"pair": pair, "direction": direction, "method": "chance", "chosen": False,
                         "recall@1": chosen["chance_recall@1"], "val_recall@1": None,
                         "recall@10": chosen["chance_recall@10"], "mrr": None})
    return rows


def card_sections(a, summary: dict) -> list[tuple[str, str]]:
    split = summary.get("eval_split", "?")
    rows = [f"| pair | direction | method | {split} R@1 | val R@1 |", "|---|---|---|---|---|"]
    for r in method_rows(summary):
        val = "" if r["val_recall@1"] is None else f"{r['val_recall@1']:.3f}"
        name = f"**{r['method']}** (served)" if r["chosen"] else r["method"]
        rows.append(f"| {r['pair'].replace('|', ' / ')} | {r['direction']} | {name} | {r['recall@1']:.4f} | {val} |")
    why = summary.get("selection", {}).get("why", "")
    return [("Model", f"A shared {a.dim_}-d embedding space for {', '.join(f'`{c}`' for c in a.columns_)} "
                      f"on top of frozen encoders, made by **{a.method_}**: {why}."),
            (f"Retrieval on the {split} split", "\n".join(rows) + "\n\nASIF is the training-free baseline "
             "(relative representations through the training pairs); CCA, Procrustes and ridge are closed-form "
             "maps solved from the training pairs' frozen features."),
            ("Limits", "Searches only what its training pairs taught it: queries about concepts absent from "
             "them fall back on the frozen encoders' similarity at best.")]
