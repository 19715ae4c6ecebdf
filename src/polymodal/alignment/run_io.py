"""An Aligner's own files in its run directory (the envelope is runs/directory.py's):
schema.json, encoders.json, aligner.json (columns, dims, options), weights.safetensors."""

from __future__ import annotations

from pathlib import Path

from ..encoders.base import encoders_from_state, encoders_state
from ..encoders.materialize import is_cached
from ..runs.files import load_tensors, read_json, save_tensors, write_json
from ..schema import Schema


def save_state(a, run: Path) -> None:
    write_json(run / "schema.json", a.schema_.to_dict())
    write_json(run / "encoders.json", encoders_state(a.encoders_))
    write_json(run / "aligner.json", {"columns": a.columns_, "dim": a.model_.dim, "loss": a.loss,
                                      "hidden": a.hidden, "dropout": a.dropout, "lock": a.lock or []})
    save_tensors(a.model_.state_dict(), run / "weights.safetensors")


def load_state(a, run: Path) -> None:
    from .model import AlignmentModel
    from .task import AlignmentTask

    a.schema_ = Schema.from_dict(read_json(run / "schema.json"))
    a.encoders_ = encoders_from_state(read_json(run / "encoders.json"))
    cfg = read_json(run / "aligner.json")
    a.columns_ = cfg["columns"]
    in_dims = {c: e.out_dim for c, e in a.encoders_.items()}
    trainable = {c: e for c, e in a.encoders_.items() if not is_cached(e)}
    a.model_ = AlignmentModel(in_dims, trainable, dim=cfg["dim"], hidden=cfg["hidden"], dropout=cfg["dropout"],
                              locked=cfg["lock"], loss=cfg["loss"])
    a.model_.load_state_dict(load_tensors(run / "weights.safetensors"))
    a.model_.eval()
    a.task_ = AlignmentTask(a.columns_, a.model_, cfg["loss"])


def card_sections(a, summary: dict) -> list[tuple[str, str]]:
    rows = ["| pair | direction | learned R@1 | ASIF R@1 | chance R@1 |", "|---|---|---|---|---|"]
    for pair, entry in summary.get("pairs", {}).items():
        for direction, m in entry["learned"].items():
            asif = (entry.get("asif") or {}).get(direction, {}).get("recall@1")
            rows.append(f"| {pair} | {direction} | {m['recall@1']:.3f} | "
                        f"{'' if asif is None else f'{asif:.3f}'} | {m['chance_recall@1']:.4f} |")
    return [("Model", f"A shared {a.model_.dim}-d embedding space for {', '.join(f'`{c}`' for c in a.columns_)} "
                      f"({a.loss} loss) on top of frozen encoders."),
            (f"Retrieval on the {summary.get('eval_split', '?')} split", "\n".join(rows) + "\n\nASIF is the "
             "training-free baseline (relative representations through the training pairs)."),
            ("Limits", "Searches only what its training pairs taught it: queries about concepts absent from "
             "them fall back on the frozen encoders' similarity at best.")]
