"""An Aligner's run directory: polymodal.json (kind "aligner"), schema.json, encoders.json,
aligner.json (columns, dims, options), weights.safetensors, metrics.json, history.json, report.html."""

from __future__ import annotations

import time
from pathlib import Path

from .. import __version__
from ..encoders.base import encoders_from_state, encoders_state
from ..features import is_cached
from ..run import FORMAT, check_run, load_tensors, read_json, save_tensors, write_json
from ..schema import Schema

ARGS = ("columns", "encoders", "loss", "dim", "hidden", "dropout", "lock", "temperature", "epochs", "batch_size",
        "lr", "weight_decay", "patience", "seed", "key", "overrides", "on_error", "pretrained", "encoder_mode")


def save_aligner(a, run: Path) -> Path:

    run.mkdir(parents=True, exist_ok=True)
    a.run_dir_ = run  # an index built from this object names the run, so it can be searched alone
    write_json(run / "schema.json", a.schema_.to_dict())
    write_json(run / "encoders.json", encoders_state(a.encoders_))
    write_json(run / "aligner.json", {"columns": a.columns_, "dim": a.model_.dim, "loss": a.loss,
                                      "hidden": a.hidden, "dropout": a.dropout, "lock": a.lock})
    save_tensors(a.model_.state_dict(), run / "weights.safetensors")
    if hasattr(a, "metrics_"):
        write_json(run / "metrics.json", {"eval_split": a.eval_split_, "splits": a.split_sizes_,
                                          "fit_seconds": round(a.fit_seconds_, 2),
                                          "train_seconds": round(a.train_seconds_, 2), **a.metrics_})
        write_json(run / "history.json", a.history_)
        from .report import write_alignment_report

        write_alignment_report(a, run)
    write_json(run / "polymodal.json", {"format": FORMAT, "kind": "aligner", "polymodal": __version__,
                                        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                        "fit": {k: getattr(a, k) for k in ARGS}})
    return run


def load_aligner(path: str | Path):
    from .aligner import Aligner
    from .model import AlignmentModel
    from .task import AlignmentTask

    run = check_run(path, kind="aligner")
    missing = [f for f in ("schema.json", "encoders.json", "aligner.json", "weights.safetensors")
               if not (run / f).exists()]
    if missing:
        from ..errors import PolymodalError

        raise PolymodalError(f"{run}: run directory is missing {', '.join(missing)}")
    meta = read_json(run / "polymodal.json")
    a = Aligner(**{k: v for k, v in meta["fit"].items() if k in ARGS})
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
    a.run_dir_ = run
    a.metrics_ = read_json(run / "metrics.json") if (run / "metrics.json").exists() else {}
    return a
