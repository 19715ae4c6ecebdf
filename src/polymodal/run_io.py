"""Writing a fitted Predictor to a run directory and reading it back (see run.py for the layout)."""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

from . import __version__
from .encoders.base import encoders_from_state, encoders_state
from .errors import PolymodalError
from .fusion.base import options_for_weights
from .fusion.options import options_for
from .run import FORMAT, check_run, load_tensors, read_json, save_tensors, write_json
from .schema import Schema
from .tasks import task_from_state

FIT_ARGS = ("label", "fusion", "encoders", "task", "imbalance", "epochs", "batch_size", "lr", "weight_decay",
            "hidden", "dropout", "modality_dropout", "patience", "seed", "encoder_mode", "pretrained",
            "baselines", "overrides", "on_error", "require_all", "fusion_options", "label_weights")
FIT_ARGS_FILE = "fit_args.json"
WORK_DIRS = ("candidates", "checkpoints")  # a fit's work in progress (fitting.py), what --resume takes up


def check_resumable(p, out: Path, resume: bool) -> None:
    """Record the fit's arguments in `out` (as JSON); with `resume`, first refuse arguments that differ from
    those of the fit being resumed: its finished candidates and checkpoints were built with those."""
    args = json.loads(json.dumps({k: getattr(p, k) for k in FIT_ARGS}, default=str))
    path = out / FIT_ARGS_FILE
    if not resume or not path.exists():
        if resume:
            warnings.warn(f"{out}: no interrupted fit to resume (no {FIT_ARGS_FILE}); starting a new fit",
                          stacklevel=3)
        # A new fit into a used --out starts clean: an earlier fit's finished candidates and checkpoints
        # would otherwise be taken up by a later `--resume` of this one (or listed as its candidates).
        for stale in WORK_DIRS:
            shutil.rmtree(out / stale, ignore_errors=True)
    else:
        before = read_json(path)
        changed = [k for k in FIT_ARGS if k in before and before[k] != args[k]]
        if changed:
            raise PolymodalError(f"{out}: cannot resume with other arguments than the interrupted fit's: "
                                 + "; ".join(f"{k} was {before[k]!r}, now {args[k]!r}" for k in changed)
                                 + ". Resume with the same arguments, or fit into a new --out.")
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, args)


def save_predictor(p, run: Path) -> Path:

    run.mkdir(parents=True, exist_ok=True)
    p.run_dir_ = run  # an index built from this object names the run, so it can be searched alone
    write_json(run / "schema.json", p.schema_.to_dict())
    write_json(run / "task.json", p.task_.state())
    write_json(run / "encoders.json", encoders_state({c: p.encoders_[c] for c in p.model_.modalities}))
    write_json(run / "model.json", {"fusion": p.fusion_, "columns": p.model_.modalities, "hidden": p.hidden,
                                    "dropout": p.dropout, "fusion_options": model_options(p),
                                    "out_dim": p.task_.out_dim})
    save_tensors(p.model_.state_dict(), run / "weights.safetensors")
    if hasattr(p, "candidates_"):
        write_json(run / "metrics.json", metrics_summary(p))
        write_json(run / "history.json", {c.name: c.history for c in p.candidates_})
        p.comparison_.to_csv(run / "comparison.csv", index=False)
        from .report.run_report import write_run_report

        write_run_report(p, run)
    write_json(run / "polymodal.json", {"format": FORMAT, "kind": "predictor", "polymodal": __version__,
                                        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                        "fit": {k: getattr(p, k) for k in FIT_ARGS}})  # written last: the marker
    return run


def model_options(p) -> dict:
    """The constructor options of the saved model's fusion (flat: model.json describes one model)."""
    options = getattr(p, "model_options_", None)
    return dict(options) if options is not None else options_for(p.fusion_options, p.fusion_)


def metrics_summary(p) -> dict:
    return {"task": p.task_.kind, "monitor": p.task_.monitor, "best": p.fusion_,
            "val": p.best_.val, "test": p.best_.test, "splits": p.split_sizes_,
            "comparison": p.comparison_.to_dict(orient="records"), "missing_modality": p.missing_,
            "fit_seconds": round(getattr(p, "fit_seconds_", 0.0), 2)}


def load_predictor(path: str | Path):
    from .fitting import build_model
    from .predictor import Predictor

    run = check_run(path, kind="predictor")
    meta = read_json(run / "polymodal.json")
    p = Predictor(**{k: v for k, v in meta["fit"].items() if k in FIT_ARGS})
    p.schema_ = Schema.from_dict(read_json(run / "schema.json"))
    p.task_ = task_from_state(read_json(run / "task.json"))
    p.encoders_ = encoders_from_state(read_json(run / "encoders.json"))
    model_cfg = read_json(run / "model.json")
    p.hidden, p.dropout = model_cfg["hidden"], model_cfg["dropout"]
    p.fusion_, p.columns_ = model_cfg["fusion"], model_cfg["columns"]
    weights = load_tensors(run / "weights.safetensors")
    # model.json holds the saved fusion's own options; the fusion completes them from its weights for runs
    # saved before one of its defaults changed. `p.fusion_options` stays what the fit was given.
    p.model_options_ = options_for_weights(p.fusion_, weights, options_for(model_cfg["fusion_options"], p.fusion_))
    p.model_ = build_model(p.fusion_, p.columns_, p.encoders_, model_cfg["out_dim"], hidden=p.hidden,
                           dropout=p.dropout, modality_dropout=0.0, fusion_options=p.model_options_)
    p.model_.load_state_dict(weights)
    p.model_.eval()
    p.run_dir_ = run
    p.metrics_ = read_json(run / "metrics.json") if (run / "metrics.json").exists() else {}
    return p
