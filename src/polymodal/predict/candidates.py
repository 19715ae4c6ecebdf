"""One round of candidates on given splits: every fusion, each modality alone, the classical candidates.

Without a time limit: the neural candidates in their order, then the classical ones, each to its epochs or
its early stop. With one (predict/budget.py): the classical candidates first, then the neural ones cheapest
first, each with the epochs that fit its share of the time left, skipping (and listing) those without time
for one epoch. Either way, when progress is shown or a limit is set, each neural candidate's epoch is timed
on a few steps first and the plan is logged with those estimates.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import PolymodalError
from ..training.data import ArrayData
from ..training.loop import epoch_seconds
from .budget import plan_text, too_small
from .classical import fit_classical
from .denoise import attach, denoised_columns, pretrain
from .distill import SUFFIX, with_soft_targets
from .fitting import SELECTABLE, Candidate, fit_candidate, score
from .pretrain import pretrain_columns, pretrain_fronts
from .private import privacy_for
from .smote import oversample
from .streamed import CLASSICAL_ROWS, bounded

logger = logging.getLogger("polymodal")


def train_once(p, splits: dict[str, ArrayData], workdir: Path | None, resume: bool, *, stage: str = ""
               ) -> list[Candidate]:
    if getattr(p.task_, "imbalance", None) == "smote":  # this round's training rows only (predict/smote.py)
        splits = {**splits, "train": oversample(splits["train"], p.columns_, seed=p.seed)}
    cands = [Candidate(f, "fusion", f, p.columns_) for f in p._fusions()]
    if p.baselines and len(p.columns_) > 1 and cands and p.dp_epsilon is None:  # each modality alone: what fusion adds
        cands += [Candidate(f"only:{c}", "unimodal", "concat", [c]) for c in p.columns_]
    taught = "@soft" in splits["train"].inputs  # a teacher's log-probabilities ride with the rows (distill.py)
    if taught:  # each fusion again, learning from the teacher too: the same start, another loss
        cands += [Candidate(f"{c.name}{SUFFIX}", "fusion", c.fusion, c.columns) for c in cands if c.kind == "fusion"]
        kd = {**splits, "train": with_soft_targets(splits["train"], splits["train"].inputs["@soft"])}
    budget = p.budget_
    models = _buildable(p, cands, stage)
    _denoise(p, splits, models, stage)
    _pretrain(p, splits, models, stage)
    costs = {c.name: epoch_seconds(models[c.name], p.task_, splits["train"].only(c.columns), splits.get("val"),
                                   batch_size=p.batch_size) for c in cands} \
        if cands and (budget.active or p.progress) else {}
    if costs:
        logger.info("%s%s", stage, plan_text(costs, p.epochs, p._classical(), budget))
    done: list[Candidate] = []
    if budget.active:  # cheapest first: the classical candidates, then the neural ones by epoch cost
        done += _classical(p, splits, stage)
        cands = sorted(cands, key=lambda c: costs[c.name])
    train_args = {"epochs": p.epochs, "batch_size": p.batch_size, "lr": p.lr, "weight_decay": p.weight_decay,
                  "patience": p.patience, "seed": p.seed, "progress": p.progress,
                  "augment": getattr(p, "augmenter_", None), "deadline": budget.stage_end,
                  "adversarial": (p.adversarial, p.epsilon) if p.adversarial else None}
    for i, cand in enumerate(cands):
        epochs = p.epochs
        if budget.active:
            share = budget.left() / (len(cands) - i)
            epochs = min(p.epochs, int(share // max(costs[cand.name], 1e-9)))
            if epochs < 1:
                p.skipped_candidates_.append({"stage": stage, "name": cand.name, "epoch_seconds": costs[cand.name],
                                              "share_seconds": max(0.0, share),
                                              "reason": f"one epoch takes about {costs[cand.name]:.1f} s and its "
                                                        f"share of the time left was {max(0.0, share):.1f} s"})
                logger.info("%sskipped %s: %s", stage, cand.name, p.skipped_candidates_[-1]["reason"])
                continue
        logger.info("%s[%d/%d] %s%s", stage, i + 1, len(cands), cand.name,
                    f" (~{costs[cand.name]:.1f} s/epoch, at most {epochs} epochs)" if costs else "")
        student = taught and cand.name.endswith(SUFFIX)
        fit_candidate(cand, p.distill_task_ if student else p.task_, kd if student else splits, workdir=workdir,
                      resume=resume, model=models.pop(cand.name),
                      train_args={**train_args, "epochs": epochs, "on_epoch_end": p.log_.stage(stage + cand.name),
                                  "privacy": privacy_for(p)})
        done.append(cand)
    if not budget.active:
        done += _classical(p, splits, stage)
    if budget.active and not any(c.kind in SELECTABLE for c in done):
        raise too_small(budget, costs)
    return done


def _buildable(p, cands: list[Candidate], stage: str) -> dict:
    """A fresh model per candidate. Among several fusions, one that cannot be built for these columns (tensor
    fusion over many modalities) is skipped and listed with its reason; the only fusion asked for raises."""
    models = {}
    for cand in list(cands):
        try:
            models[cand.name] = _model(p, cand)
        except PolymodalError as exc:
            if len(p._fusions()) < 2:
                raise
            p.skipped_candidates_.append({"stage": stage, "name": cand.name, "reason": str(exc)})
            logger.info("%sskipped %s: %s", stage, cand.name, exc)
            cands.remove(cand)
    return models


def _denoise(p, splits: dict[str, ArrayData], models: dict, stage: str) -> None:
    """With `denoise`: one denoiser per fixed-feature column, pre-trained on this round's training rows, copied into
    every neural candidate (predict/denoise.py)."""
    columns = denoised_columns(p.encoders_, p.columns_) if getattr(p, "denoise", 0) and models else []
    if not columns:
        return
    logger.info("%sdenoising pre-training of %s (noise %g)", stage, ", ".join(columns), p.denoise)
    denoisers, figures = pretrain(splits["train"], splits["val"], columns, p.denoise, seed=p.seed)
    if not stage:  # the final fit's, for the report
        p.denoised_ = figures
    for model in models.values():
        attach(model, denoisers)


def _pretrain(p, splits: dict[str, ArrayData], models: dict, stage: str) -> None:
    """With `pretrain`: a front per fixed-feature column, pre-trained contrastively on this round's training rows
    and the rows without a label, copied into every neural candidate (predict/pretrain.py)."""
    columns = pretrain_columns(p.encoders_, p.columns_) if getattr(p, "pretrain", False) and models else []
    if not columns:
        return
    earlier = getattr(p, "pretrained_fronts_", {})
    base = stage.replace("pseudo:", "")
    if base != stage and base in earlier:  # self-training's second round: its extra rows are the unlabeled ones,
        fronts = earlier[base]  # which the first round's fronts were already trained on
    else:
        extra = getattr(p, "pretrain_arrays_", None)
        logger.info("%scontrastive pre-training of %s on %d training + %d unlabeled rows", stage, ", ".join(columns),
                    len(splits["train"]), len(extra) if extra is not None else 0)
        fronts, info = pretrain_fronts(splits["train"], splits.get("val", splits["train"]), extra, columns,
                                       seed=p.seed)
        if "skipped" in info:
            logger.info("%scontrastive pre-training skipped: %s", stage, info["skipped"])
            return
        p.pretrained_fronts_ = {**earlier, base: fronts}
        if not stage or getattr(p, "pretrain_info_", None) is None:  # the final fit's (or a bag's first fold's)
            p.pretrain_info_ = info
    for model in models.values():
        attach(model, fronts)


def _model(p, cand: Candidate):
    fusion = cand.kind == "fusion"  # baselines keep their fusion's defaults
    model = p._model(cand.fusion, cand.columns, modality_dropout=p.modality_dropout if fusion else 0.0,
                     options=p._options if fusion else None)
    if getattr(p, "warm_", None) is not None:  # an online update: from the run's saved weights (predict/warm.py)
        p.warm_.load_into(cand.name, model)
    return model


def _classical(p, splits: dict[str, ArrayData], stage: str) -> list[Candidate]:
    out = []
    for name in p._classical():
        if p.budget_.left() <= 0:
            p.skipped_candidates_.append({"stage": stage, "name": name, "reason": "no time left"})
            logger.info("%sskipped %s: no time left", stage, name)
            continue
        logger.info("%s%s on the fixed features", stage, name)
        # a streamed fit's mapped rows: fitted and tuned on a bounded sample, scored on every row (streamed.py)
        sample = {k: bounded(v, CLASSICAL_ROWS, p.seed) for k, v in splits.items()}
        cand = fit_classical(name, p.task_, sample, p.encoders_, p.columns_, seed=p.seed)
        if cand is not None and any(v is not sample[k] for k, v in splits.items()):
            score(cand, p.task_, splits)
        out += [cand] if cand is not None else []
    return out
