"""A Predictor's own files in its run directory (the envelope is runs/directory.py's):

    RUN/schema.json        column roles
    RUN/task.json          the task's learned state (classes, target scaling)
    RUN/encoders.json      per input column: encoder name, rebuild config, mode
    RUN/model.json         fusion name and its own (flat) options, the modalities it was trained on
    RUN/weights.safetensors  model weights
    RUN/comparison.csv, candidates/ (every candidate's finished weights)
    RUN/seen.json, seen.npy  the fingerprint columns, and the fingerprints of the rows the fit used

Pretrained frozen encoders are not copied into the run: they are rebuilt from their package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..encoders.base import encoders_from_state, encoders_state
from ..fusion.base import options_for_weights
from ..fusion.options import options_for
from ..runs.files import atomic_write, load_tensors, read_json, save_tensors, write_json
from ..schema import Schema
from ..tasks import task_from_state


def save_state(p, run: Path) -> None:
    write_json(run / "schema.json", p.schema_.to_dict())
    write_json(run / "task.json", p.task_.state())
    write_json(run / "encoders.json", encoders_state({c: p.encoders_[c] for c in p.model_.modalities}))
    members = getattr(p, "ensemble_parts_", None)  # an ensemble: its members, each rebuilt like a single model
    write_json(run / "model.json", {"fusion": p.fusion_, "columns": p.model_.modalities, "hidden": p.hidden,
                                    "dropout": p.dropout, "fusion_options": model_options(p),
                                    "out_dim": p.task_.out_dim,
                                    **({"members": members, "combine": p.model_.combine} if members else {})})
    save_tensors(p.model_.state_dict(), run / "weights.safetensors")
    from . import replay

    replay.save(getattr(p, "replay_", None), p.encoders_, run)  # RUN/replay/, for online updates (warm.py)
    if getattr(p, "seen_", None) is not None:  # the rows the fit used, for evaluate's warning (predict/seen.py)
        # the fingerprints as 8 raw bytes each in seen.npy (a streamed fit of 10M rows has 10M: 80 MB there, where
        # hex strings in JSON took 180 MB and seconds to parse)
        atomic_write(run / "seen.npy", lambda tmp: _save_npy(tmp, np.asarray(p.seen_, dtype=np.uint64)))
        write_json(run / "seen.json", {"columns": p.seen_columns_, "rows_file": "seen.npy"})


def model_options(p) -> dict:
    """The constructor options of the saved model's fusion (flat: model.json describes one model)."""
    options = getattr(p, "model_options_", None)
    return dict(options) if options is not None else options_for(p.fusion_options or {}, p.fusion_)


def metrics_summary(p) -> dict:
    estimate = {"kind": p.estimate_kind_, "text": p.estimate_}
    return {"task": p.task_.kind, "monitor": p.task_.monitor, "best": p.fusion_, "chosen": p.best_.name,
            **({"ensemble": p.ensemble_parts_} if p.ensemble_parts_ else {}), "estimate": estimate,
            **({"cv": p.cv_} if p.estimate_kind_ == "cv" else {}),
            "val": p.best_.val, "test": p.best_.test, "splits": p.split_sizes_,
            "comparison": p.comparison_.to_dict(orient="records"), "missing_modality": p.missing_,
            "fit_seconds": round(getattr(p, "fit_seconds_", 0.0), 2),
            **({"unlabeled": p.unlabeled_} if getattr(p, "unlabeled_", {}).get("rows") else {}),
            **({"denoise": p.denoised_} if getattr(p, "denoised_", None) else {}),
            **({"pretrain": p.pretrain_info_} if getattr(p, "pretrain_info_", None) else {}),
            **({"streamed": {k: v for k, v in p.streamed_.items() if k != "features"}}
               if getattr(p, "streamed_", None) else {}),
            **({"modality_importance": p.mattered_} if getattr(p, "mattered_", None) else {}),
            **({"distillation": p.distilled_} if getattr(p, "distilled_", None) else {}),
            **({"warm_start": p.warm_info_} if getattr(p, "warm_info_", None) else {}),
            **({"privacy": p.best_.privacy} if getattr(p.best_, "privacy", None) else {}),
            **({"time_limit": {"seconds": p.time_limit, "skipped": p.skipped_candidates_}}
               if getattr(p, "time_limit", None) else {})}


def load_state(p, run: Path) -> None:
    from .denoise import attach_from_weights
    from .fitting import build_model

    p.schema_ = Schema.from_dict(read_json(run / "schema.json"))
    p.task_ = task_from_state(read_json(run / "task.json"))
    p.encoders_ = encoders_from_state(read_json(run / "encoders.json"))
    model_cfg = read_json(run / "model.json")
    p.hidden, p.dropout = model_cfg["hidden"], model_cfg["dropout"]
    p.fusion_, p.columns_ = model_cfg["fusion"], model_cfg["columns"]
    weights = load_tensors(run / "weights.safetensors")
    p.ensemble_parts_ = model_cfg.get("members")
    if p.ensemble_parts_:
        from .weighted import WeightedEnsemble

        p.model_options_ = {}
        p.model_ = WeightedEnsemble([build_model(m["fusion"], m["columns"], p.encoders_, model_cfg["out_dim"],
                                                 hidden=p.hidden, dropout=p.dropout, modality_dropout=0.0,
                                                 fusion_options=m["fusion_options"]) for m in p.ensemble_parts_],
                                    [m["weight"] for m in p.ensemble_parts_], model_cfg.get("combine", "proba"))
    else:
        # model.json holds the saved fusion's own options; the fusion completes them from its weights for runs
        # saved before one of its defaults changed. `p.fusion_options` stays what the fit was given.
        p.model_options_ = options_for_weights(p.fusion_, weights,
                                               options_for(model_cfg["fusion_options"], p.fusion_))
        p.model_ = build_model(p.fusion_, p.columns_, p.encoders_, model_cfg["out_dim"], hidden=p.hidden,
                               dropout=p.dropout, modality_dropout=0.0, fusion_options=p.model_options_)
    attach_from_weights(p.model_, weights)  # denoisers (predict/denoise.py), where the fit had them
    p.model_.load_state_dict(weights)
    p.model_.eval()
    if (run / "seen.json").exists():  # runs saved before it lack it: evaluate then cannot warn
        seen = read_json(run / "seen.json")
        p.seen_columns_ = seen["columns"]
        p.seen_ = np.load(run / seen["rows_file"]) if "rows_file" in seen else \
            np.array([int(v, 16) for v in seen["rows"]], dtype=np.uint64)  # runs saved before seen.npy
    estimate = read_json(run / "metrics.json").get("estimate", {}) if (run / "metrics.json").exists() else {}
    p.estimate_kind_, p.estimate_ = estimate.get("kind"), estimate.get("text")


def card_sections(p, summary: dict) -> list[tuple[str, str]]:
    monitor = summary["monitor"]
    if "cv" in summary:
        cv = summary["cv"]["candidates"]
        rows = [f"| candidate | kind | cross-validated {monitor} (mean ± std) |", "|---|---|---|"]
        for row in summary["comparison"]:
            m = cv.get(row["name"], {})
            shown = f"{m['mean'][monitor]:.4f} ± {m['std'][monitor]:.4f}" if monitor in m.get("mean", {}) else ""
            rows.append(f"| {row['name']} | {row['kind']} | {shown} |")
    else:
        split = "test" if summary.get("test") else "val"
        rows = ["| candidate | kind | " + f"{split} {monitor} |", "|---|---|---|"]
        for row in summary["comparison"]:
            value = row.get(f"{split}_{monitor}")
            rows.append(f"| {row['name']} | {row['kind']} | {'' if value is None else f'{value:.4f}'} |")
    inputs = ", ".join(f"`{c}` ({p.schema_.modalities[c]}, encoder `{p.encoders_[c].name}`)" for c in p.columns_)
    return [("Model", f"Predicts {', '.join(f'`{c}`' for c in p.labels)} ({summary['task']}) from {inputs}, "
                      + _through(p) + ", chosen as the best candidate on "
                      + ("out-of-fold predictions." if getattr(p, "bag_folds", 0) else "validation.")),
            ("Metrics against the baselines", "\n".join(rows) + "\n\nThe `only:COLUMN` rows are each modality "
             "alone (the baselines); `linear-probe` is scikit-learn's linear model on the cached features, `lightgbm` "
             "gradient-boosted trees, `knn` k nearest neighbours; "
             "`ensemble` averages the candidates' probabilities with weights chosen by ensemble selection on "
             "validation."),
            ("Limits", "Trained on the rows above only: inputs unlike them (other image styles, other "
             "vocabulary, other recording conditions) are outside what it was measured on. A modality "
             "missing at prediction time costs what the report's robustness table shows.")]


def members_text(parts: list[dict]) -> str:
    """What an ensemble's or a bag's members are, in words: a bag is K equal members of one candidate."""
    weights: dict[str, list[float]] = {}
    for m in parts:
        weights.setdefault(m["name"], []).append(m["weight"])
    bagged = {name: len(w) for name, w in weights.items() if len(w) > 1}
    folds = f"; each a {max(bagged.values())}-fold bag (predict/bagging.py)" if bagged else ""
    if len(weights) == 1:
        name, w = next(iter(weights.items()))
        return (f"a **{len(w)}-fold bag** of `{name}` (its {len(w)} fold models' outputs averaged; chosen on "
                "out-of-fold predictions)")
    members = ", ".join(f"`{name}` ({sum(w):.2f})" for name, w in weights.items())
    return (f"an **ensemble** of {members} (ensemble selection, Caruana et al. 2004: weights are shares of 25 "
            f"greedy rounds on validation{folds})")


def _through(p) -> str:
    if p.ensemble_parts_:
        return f"through {members_text(p.ensemble_parts_)}"
    if p.fusion_ == "linear":
        return "through a **linear probe** (logistic or ridge regression on the standardised cached features)"
    if p.fusion_ == "lightgbm":
        return "through **gradient-boosted trees** (LightGBM; embeddings as their leading principal components)"
    if p.fusion_ == "knn":
        return "through **k nearest neighbours** (cosine similarity over the standardised cached features)"
    return f"through the **{p.fusion_}** fusion"


def _save_npy(path: Path, values: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a temporary name
        np.save(f, values)
