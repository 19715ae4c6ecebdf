"""Online updates: a fitted predictor continued on new rows (`fit NEW --warm-start RUN`, `Predictor(warm_start=RUN)`),
with earlier rows replayed so that it does not forget them (experience replay).

- The run's schema, encoders (as prepared on its first fit), task and label set are kept. A table with a missing or
  an extra input column, a column whose kind changed (an image column that now holds text), or a label the run never
  saw is refused before any work, naming the columns, values and rows.
- The run's candidates are trained again (predict/replay.py keeps their plan): every neural one from its saved
  weights (RUN/candidates/), the classical ones refitted, then chosen and ensembled as in any fit.
- They train on the new table's training rows plus the reservoir's training rows, and are chosen on the new
  validation rows plus the reservoir's validation rows; `replay=0` replays nothing (plain fine-tuning).
- The report compares the model before and after the update on the new evaluation rows and on the replayed
  validation rows: what it learned, and what it forgot.
- The new run keeps a reservoir of every row seen so far, so updates chain.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..data.groups import MEDIA, shared_file_groups
from ..data.label_text import label_text
from ..data.splits import split_rows
from ..data.table import Table, read_table
from ..data.validate import validate, write_skipped
from ..encoders.materialize import materialize
from ..errors import PolymodalError
from ..runs.figures import where_from
from ..runs.files import load_tensors
from ..schema import Schema, detect_schema, with_group_cells
from ..tasks import Classification, MultiTask, encode_targets
from ..training.data import ArrayData
from ..training.loop import predict_logits
from . import replay as reservoir
from .seen import fingerprints
from .unlabeled import set_aside

logger = logging.getLogger("polymodal")
FREE = ("id", "split", "ignore")  # roles that feed no model: a new table may add or lack them


class WarmStart:
    """The saved weights of a run's candidates, loaded into the same candidates of an update."""

    def __init__(self, run: Path):
        self.folder, self.started = Path(run) / "candidates", []

    def load_into(self, name: str, model) -> None:
        from .denoise import attach_from_weights
        from .fitting import _slug

        path = self.folder / f"{_slug(name)}.safetensors"
        if not path.exists() or not isinstance(model, torch.nn.Module) or not hasattr(model, "fusion"):
            return  # a classical model is refitted; a candidate the run did not have starts afresh
        weights = load_tensors(path)
        attach_from_weights(model, weights)
        try:
            model.load_state_dict(weights)
        except RuntimeError as exc:
            raise PolymodalError(f"{path}: the saved weights of candidate {name!r} do not fit the model rebuilt from "
                                 f"the run's settings ({str(exc).splitlines()[0]})") from None
        self.started.append(name)


def check(p, tuning_data) -> None:
    """What a warm start cannot combine with, refused before any work."""
    reservoir.check_size(p.replay)
    if p.warm_start is None:
        return
    refused = {"stream": p.stream is True, "bag_folds": bool(p.bag_folds), "teacher": p.teacher is not None,
               "tuning_data": tuning_data is not None, "estimate='cv'": p.estimate == "cv",
               "augment": bool(p.augment), "unlabeled='use'": p.unlabeled == "use", "denoise": bool(p.denoise),
               "pretrain": bool(p.pretrain)}
    named = [k for k, v in refused.items() if v]
    if named:
        raise PolymodalError(f"a warm start (warm_start, --warm-start) continues a run on new rows in memory, and "
                             f"cannot be combined with {', '.join(named)}; fit from scratch for those")


def load_run(source):
    """The run to continue: a fitted Predictor, or its folder."""
    from ..runs.kinds import load

    run = source if not isinstance(source, str | Path) else load(source)
    if getattr(run, "kind", None) != "predictor":
        raise PolymodalError(f"warm start from {source}: not a predictor's run (a {getattr(run, 'kind', '?')})")
    if getattr(run, "run_dir_", None) is None:
        raise PolymodalError("warm start: give the run's folder (its candidates' weights and reservoir are read "
                             "from there), or a Predictor loaded from one")
    return run


def start(p, data, run: Path | None) -> dict[str, ArrayData]:
    """Everything before the candidates train: `p` takes the old run's state, the new table is read, checked and
    split, and the training and validation rows are the new ones plus the replayed ones."""
    old = load_run(p.warm_start)
    if sorted(p.labels) != sorted(old.labels):
        raise PolymodalError(f"a warm start keeps the run's label(s) ({', '.join(old.labels)}); this fit names "
                             f"{', '.join(p.labels)}")
    kept = reservoir.load(old.run_dir_)
    previous, encoders = kept if kept is not None else (None, old.encoders_)
    if previous is None:
        logger.warning("%s keeps no replay reservoir (fitted with replay=0, streamed, or by an older polymodal): "
                       "the update cannot replay earlier rows", old.run_dir_)
    plan = previous.plan if previous is not None else _plan_of(old)
    p.fusion, p.classical, p.baselines = ",".join(plan["fusions"]) or "none", ",".join(plan["classical"]) or "none", \
        plan["baselines"]
    p.fusion_options, p.hidden, p.dropout, p.tabular = plan["fusion_options"], plan["hidden"], plan["dropout"], \
        plan["tabular"]
    p.schema_, p.task_, p.encoders_ = old.schema_, old.task_, encoders
    p.columns_ = list(previous.data.masks) if previous is not None else list(old.model_.modalities)
    p.augmenter_ = p.unlabeled_arrays_ = p.distill_task_ = p.distilled_ = None

    table, split_schema = _read(p, data, old, run)
    groups = shared_file_groups(table.df, [c for c in p.columns_ if p.schema_.modalities[c] in MEDIA])
    parts = split_rows(table.df, split_schema, p.labels[0] if len(p.labels) == 1 else None, seed=p.seed,
                       groups=groups)
    if not len(parts["val"]):
        raise PolymodalError(f"{table.source}: no validation rows (split column has no 'val' rows)")
    new = materialize(table, p.schema_, {c: p.encoders_[c] for c in p.columns_}, progress=p.progress)
    new.targets = encode_targets(p.task_, table.df)
    new.groups = None if groups is None else torch.as_tensor(groups)
    new = ArrayData({c: new.inputs[c] for c in p.columns_}, {c: new.masks[c] for c in p.columns_}, new.targets,
                    new.groups)
    splits = {k: new.subset(torch.as_tensor(v, dtype=torch.long)) for k, v in parts.items()}
    replayed = {"train": 0, "val": 0}
    if previous is not None and p.replay > 0:
        for name, tag in (("train", reservoir.TRAIN), ("val", reservoir.VAL)):
            rows = previous.part(tag)
            replayed[name] = len(rows)
            if len(rows):
                splits[name] = ArrayData.concat([splits[name], _like(rows, splits[name])])
    logger.info("warm start from %s: %d new training rows + %d replayed, %d new validation rows + %d replayed",
                old.run_dir_, len(parts["train"]), replayed["train"], len(parts["val"]), replayed["val"])

    p.split_sizes_ = {k: len(v) for k, v in splits.items()}
    kind = "test" if len(parts["test"]) else "val"
    p.estimate_kind_ = kind
    p.estimate_ = where_from(kind, len(parts[kind]), chose="selection (early stopping, choosing the fusion)")
    p.seen_columns_ = old.seen_columns_ if getattr(old, "seen_", None) is not None else None
    if p.seen_columns_ is not None:
        used = np.concatenate([parts["train"], parts["val"]])
        p.seen_ = np.union1d(old.seen_, fingerprints(table, p.schema_, p.seen_columns_)[used])
    else:
        p.seen_ = None
    p.replay_ = reservoir.draw(previous if p.replay > 0 else None, new, parts, p.replay, plan, seed=p.seed)
    p.warm_ = WarmStart(old.run_dir_)
    p.warm_info_ = {"from": str(old.run_dir_), "new_rows": {k: len(v) for k, v in parts.items()},
                    "replayed": replayed, "reservoir_before": None if previous is None else
                    {"rows": len(previous), "seen": previous.seen},
                    "reservoir_after": None if p.replay_ is None else {"rows": len(p.replay_), "seen": p.replay_.seen}}
    p.warm_old_ = old
    p.warm_eval_ = {"new": splits[kind] if kind == "test" else splits["val"].subset(torch.arange(len(parts["val"]))),
                    "old": previous.part(reservoir.VAL) if previous is not None else None}
    return splits


def plan(p) -> dict:
    """The candidates a fit trains, as an update trains them again."""
    return {"fusions": p._fusions(), "classical": p._classical(), "baselines": bool(p.baselines),
            "fusion_options": dict(p.fusion_options or {}), "hidden": p.hidden, "dropout": p.dropout,
            "tabular": p.tabular}


def _plan_of(old) -> dict:
    """A run without a reservoir: its saved model alone (its other candidates' settings were not kept)."""
    from .classical import classical_names

    names = {"linear-probe": "linear"}
    name = names.get(old.fusion_, old.fusion_)
    if old.ensemble_parts_:
        raise PolymodalError(f"{old.run_dir_}: its saved model is an ensemble, and the run keeps no reservoir (nor "
                             "the settings of its candidates): refit it with this polymodal, then update")
    classical = [name] if name in classical_names() else []
    return {"fusions": [] if classical else [old.fusion_], "classical": classical, "baselines": False,
            "fusion_options": {old.fusion_: dict(old.model_options_ or {})} if not classical else {},
            "hidden": old.hidden, "dropout": old.dropout, "tabular": "group"}


def _like(rows: ArrayData, new: ArrayData) -> ArrayData:
    """The replayed rows with each input in the new rows' dtype (the reservoir stores float16)."""
    inputs = {c: v.to(new.inputs[c].dtype) if isinstance(v, torch.Tensor) else v for c, v in rows.inputs.items()}
    return ArrayData(inputs, rows.masks, rows.targets, None)


def _read(p, data, old, run: Path | None) -> tuple[Table, Schema]:
    """The new table, checked against the run's schema and label set, validated, its unlabeled rows set aside."""
    table = read_table(data)
    fresh = detect_schema(table, label=p.labels, overrides=p.overrides or {})
    _check_schema(old.schema_, fresh, table.source)
    _check_labels(p, table)
    own = [c for c in old.schema_.columns if c.role != "split"]
    split_schema = Schema([*own, *(c for c in fresh.columns if c.role == "split")], table.source)
    table = with_group_cells(table, old.schema_)
    report = validate(table, split_schema, on_error=p.on_error, require_all=p.require_all, allow_unlabeled=True)
    if run is not None:
        write_skipped(report, run / "skipped.csv")
    p.skipped_ = report.skipped
    labelled, unlabeled = set_aside(report.table, p.labels)
    p.unlabeled_ = {"policy": "ignore", "rows": len(unlabeled.df)}
    if not len(labelled.df):
        raise PolymodalError(f"{table.source}: no row has a label in {', '.join(p.labels)}; an update needs "
                             "labelled rows")
    return labelled, split_schema


def _check_schema(old: Schema, fresh: Schema, source: str) -> None:
    before = {c.name: c.role for c in old.columns if not c.members}
    now = {c.name: c.role for c in fresh.columns}
    problems = [f"no column {c!r} ({r})" for c, r in before.items() if c not in now and r not in FREE]
    problems += [f"a new column {c!r} ({r}) the run never read" for c, r in now.items()
                 if c not in before and r not in FREE]
    problems += [f"column {c!r} was {before[c]} and now holds {now[c]}" for c in before.keys() & now.keys()
                 if before[c] != now[c] and (before[c] in MEDIA or now[c] in MEDIA)]
    if problems:
        raise PolymodalError(f"{source}: a warm start keeps the run's schema, and this table differs: "
                             f"{'; '.join(sorted(problems))}. Drop or rename those columns (an extra column can be "
                             "marked --ignore), or fit from scratch.")


def _check_labels(p, table: Table) -> None:
    """Every label value must be one the run knows: an update cannot add a class to a fitted head."""
    tasks = p.task_.tasks if isinstance(p.task_, MultiTask) else [p.task_]
    for task in tasks:
        if not isinstance(task, Classification) or task.column not in table.df.columns:
            continue
        known = set(task.classes)
        values = table.df[task.column].dropna().map(label_text)
        values = values[values != ""]
        unseen = values[~values.isin(known)]
        if len(unseen):
            shown = ", ".join(f"{v!r} (rows {', '.join(map(str, unseen.index[unseen == v][:3]))})"
                              for v in list(dict.fromkeys(unseen))[:5])
            raise PolymodalError(f"{table.source}: column {task.column!r} has label(s) the run never saw: {shown}"
                                 f"{'; ...' if unseen.nunique() > 5 else ''}. A warm start keeps the run's classes "
                                 f"({', '.join(sorted(known))}): drop those rows, or fit from scratch.")


def before_after(p) -> None:
    """The model before and after the update, on the new evaluation rows and on the replayed validation rows."""
    rows = []
    for name, part in p.warm_eval_.items():
        if part is None or not len(part):
            continue
        for when, model in (("before", p.warm_old_.model_), ("after", p.model_)):
            metrics = p.task_.metrics(predict_logits(model, part), part.targets)
            rows.append({"rows": f"{name} ({len(part)})", "model": when, p.task_.monitor: metrics[p.task_.monitor],
                         **({"accuracy": metrics["accuracy"]} if "accuracy" in metrics else {})})
    p.warm_info_ = {**p.warm_info_, "warm_started": list(p.warm_.started), "before_after": rows}
    for attr in ("warm_old_", "warm_eval_"):
        p.__dict__.pop(attr, None)
