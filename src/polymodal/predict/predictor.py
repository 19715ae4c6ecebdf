"""`Predictor`: the scikit-learn-like facade for supervised jobs on a multimodal table.

    p = Predictor(label="group", fusion="all").fit("train.csv")   # returns self
    p.evaluate("test.csv"); p.predict(df); p.predict_proba(df); p.save("run/")
    p = Predictor.load("run/")          # or polymodal.load("run/"), whatever the kind
"""

from __future__ import annotations

import difflib
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.groups import MEDIA, shared_file_groups
from ..data.splits import CV_BELOW, split_rows, with_tuning_rows
from ..data.table import Table, read_table
from ..data.validate import validate, write_skipped
from ..encoders.materialize import cell_values, choose_encoders, is_cached, materialize, parse_encoder_spec
from ..errors import PolymodalError
from ..fusion.base import fusion_names
from ..fusion.options import check_options, options_for
from ..runs.figures import where_from
from ..runs.job import Job
from ..schema import Schema, detect_schema, group_tabular, with_group_cells
from ..tasks import Classification, MultiTask, Task, check_weights, encode_targets, make_task
from ..training.adversarial import check_attack
from ..training.augment import VIEWS, BatchAugmenter, check_columns, parse_augment, view_transform
from ..training.data import ArrayData
from ..training.loop import predict_logits
from ..training.settings import check_settings
from . import explain, run_io, warm
from . import replay as reservoir
from .bagging import bag, check_bag_folds
from .budget import Budget, check_time_limit
from .candidates import train_once
from .classical import DEFAULT as CLASSICAL_DEFAULT
from .classical import classical_names
from .denoise import attach_from_weights, check_denoise
from .distill import Distillation, check_distill, footprint, load_teacher, teacher_logits
from .estimate import check_estimate, cross_validate
from .fitted import check_neural
from .fitting import SELECTABLE, Candidate, build_model, score
from .model import MultimodalModel
from .pretrain import check_pretrain
from .private import check_private
from .replay import DEFAULT_SIZE as DEFAULT_REPLAY
from .seen import fingerprint_columns, fingerprints, seen_mask
from .selection import ensemble_selection
from .streamed import EVAL_ROWS, bounded, check_streamable, fit_streamed, wants_stream
from .unlabeled import check_task, check_unlabeled, self_train, set_aside
from .weighted import WeightedEnsemble, check_single

logger = logging.getLogger("polymodal")
PREDICT_HINT = ("Fix these cells, or empty them: a row with an empty cell is predicted without that modality "
                "(unless the model was fitted with --require-all).")


class Predictor(Job):
    """Predict label column(s) from any subset of a table's modalities through a chosen fusion.

    `fusion` is a registered fusion name, a comma-separated list, "all" (every fusion is
    trained; the best on validation is kept, the rest are compared in the report), or "none" (the
    classical candidates only). With
    `baselines=True` each modality alone is trained too, so the report shows what fusion adds.
    `fusion_options`: constructor options, flat for every fusion trained (``{"gate_rank": 0}``) or per
    fusion (``{"gated": {"gate_rank": 0}}``); see fusion/options.py. Baselines get none of them.
    `estimate`: where the reported figures come from (predict/estimate.py): "auto" uses the table's split
    column, else a 70/15/15 split from 1,000 rows up and `folds`-fold cross-validation of the whole
    selection below; "holdout" always splits 70/15/15; "cv" always cross-validates.
    `label_weights`: with several labels (multi-task), the weight of each label's loss in their sum
    (``{"group": 1.0, "subgroup": 0.5}``; unnamed labels weigh 1).
    `classical`: classical candidates fitted on the same features beside the neural ones, and chosen when best
    on validation (predict/classical.py), comma-separated: "linear" (a linear probe: logistic or ridge regression),
    "lightgbm" (gradient-boosted trees), "knn" (k nearest neighbours), or "none".
    `ensemble`: ensemble selection over the trained candidates (Caruana et al. 2004, predict/selection.py),
    saved instead of the best single candidate when it beats it on validation (single-label classification).
    `unlabeled`: rows whose label cells are all empty are set aside ("ignore") or pseudo-labelled by the chosen
    model for a second round of every candidate ("use"; predict/unlabeled.py).
    `augment`: data augmentation while the neural candidates train, off by default (training/augment.py):
    "mixup=0.2,image=flip+crop,audio=mask,text=dropout" or the same as a dict.
    `tabular`: "group" (the default) gathers the numeric and categorical columns into one `tabular` modality
    (one encoder, one presence mask; schema.group_tabular); "separate" makes each a modality of its own.
    `teacher`: a fitted predictor run (or its folder) whose soft predictions each neural candidate also learns
    from, as a `NAME+teacher` twin beside the plain one (knowledge distillation, predict/distill.py), at
    `temperature`, the soft targets weighing `alpha` of the loss.
    `adversarial`: "fgsm" or "pgd" trains every neural candidate on clean and attacked batches alike, within
    `epsilon` of each input column's standard deviation (training/adversarial.py); None (the default) does not.
    `time_limit`: seconds for the whole fit (predict/budget.py): cheapest candidates first, epochs fitted to
    the time left, candidates without time skipped and listed; None (the default) has no limit.
    `bag_folds`: K >= 2 fits every candidate K times over K folds of the pooled training and validation rows
    and chooses on the out-of-fold predictions (predict/bagging.py); 0 (the default) fits each once.
    `denoise`: a noise level in standard deviations (0.5 is a good start; 0, the default, is off): each column with
    fixed features gets a denoising autoencoder in front of it, pre-trained to clean copies of its features
    corrupted by that much Gaussian noise, then fine-tuned with every neural candidate (predict/denoise.py).
    `pretrain`: cross-modal contrastive pre-training of a front on each column with fixed features, on the
    training rows and every row without a label, before the neural candidates fine-tune it (predict/pretrain.py).
    `stream`: fit a Parquet table larger than memory batch by batch, its features memory-mapped (predict/streamed.py);
    None (the default) streams a Parquet table of a million rows or more, True always, False never.
    `warm_start`: a fitted predictor run (or its folder) to continue on `data`'s rows, an online update
    (predict/warm.py): the run's schema, encoders, label set and candidates are kept, each neural candidate starts from
    its saved weights, and the run's replay reservoir is trained and chosen on beside the new rows; `fusion`,
    `classical`, `baselines`, `fusion_options`, `hidden`, `dropout` and `tabular` are then the run's.
    `replay`: the rows of the replay reservoir the run keeps for later updates (a uniform sample of every row fitted
    on, predict/replay.py), and an update replays; 0 keeps none (an update then fine-tunes on the new rows alone).
    `dp_epsilon`: differential privacy (predict/private.py): the one fusion is trained by DP-SGD (Opacus) within the
    budget (`dp_epsilon`, `dp_delta`), each row's gradient clipped to norm `dp_clip`; the unimodal baselines and the
    classical candidates, which would spend more budget or have no private fit, are not fitted. The epsilon spent is
    in metrics.json and the report. None (the default) is off.
    """

    kind = "predictor"
    FILES = ("schema.json", "task.json", "encoders.json", "model.json")

    def __init__(self, label: str | list[str], *, fusion: str = "concat", encoders: str | dict | None = None,
                 task: str = "auto", imbalance: str = "none", epochs: int = 40, batch_size: int = 128,
                 lr: float = 2e-3, weight_decay: float = 1e-2, hidden: int = 128, dropout: float = 0.1,
                 modality_dropout: float = 0.2, patience: int = 8, seed: int = 0, encoder_mode: str | None = None,
                 pretrained: bool = True, baselines: bool = True, estimate: str = "auto", folds: int = 5,
                 overrides: dict[str, str] | None = None,
                 on_error: str = "error", require_all: bool = False, fusion_options: dict | None = None,
                 label_weights: dict[str, float] | None = None, classical: str = CLASSICAL_DEFAULT,
                 ensemble: bool = True, bag_folds: int = 0, unlabeled: str = "ignore",
                 augment: str | dict | None = None, time_limit: float | None = None, tabular: str = "group",
                 teacher=None, temperature: float = 4.0, alpha: float = 0.5, adversarial: str | None = None,
                 epsilon: float = 0.1, denoise: float = 0.0, stream: bool | None = None, warm_start=None,
                 replay: int = DEFAULT_REPLAY, dp_epsilon: float | None = None, dp_delta: float = 1e-5,
                 dp_clip: float = 1.0, pretrain: bool = False, progress: bool = True):
        # stored as given (scikit-learn's rule, so clone() works); read through the properties below
        self.label, self.fusion, self.encoders, self.task = label, fusion, encoders, task
        self.imbalance, self.epochs, self.batch_size, self.lr = imbalance, epochs, batch_size, lr
        self.weight_decay, self.hidden, self.dropout = weight_decay, hidden, dropout
        self.modality_dropout, self.patience, self.seed = modality_dropout, patience, seed
        self.encoder_mode, self.pretrained, self.baselines = encoder_mode, pretrained, baselines
        self.estimate, self.folds = estimate, folds
        self.overrides, self.on_error, self.require_all = overrides, on_error, require_all
        self.fusion_options, self.progress = fusion_options, progress
        self.label_weights, self.classical, self.ensemble = label_weights, classical, ensemble
        self.bag_folds, self.unlabeled, self.augment = bag_folds, unlabeled, augment
        self.time_limit, self.tabular = time_limit, tabular
        self.teacher, self.temperature, self.alpha = teacher, temperature, alpha
        self.adversarial, self.epsilon = adversarial, epsilon
        self.stream, self.denoise = stream, denoise
        self.warm_start, self.replay = warm_start, replay
        self.dp_epsilon, self.dp_delta, self.dp_clip = dp_epsilon, dp_delta, dp_clip
        self.pretrain = pretrain

    @property
    def labels(self) -> list[str]:
        return [self.label] if isinstance(self.label, str) else list(self.label)

    @property
    def _options(self) -> dict:
        return dict(self.fusion_options or {})

    # ----------------------------------------------------------------- fit
    def fit(self, data, *, out: str | Path | None = None, resume: bool = False, overwrite: bool = False,
            tuning_data=None, tensorboard: bool = False) -> Predictor:
        """Fit on `data` (a path or a DataFrame). `out`: the run directory to write (resumable with
        `resume`; a finished run there is replaced only with `overwrite`). `tuning_data`: a separate table
        for validation (early stopping and choosing the fusion); `data` then supplies the training rows."""
        weights = self._check_before_work(tuning_data)
        streamed = wants_stream(self.stream, data)
        if streamed:
            check_streamable(self, tuning_data)
        self.budget_, self.skipped_candidates_ = Budget(self.time_limit), []  # the clock starts now
        run = self._start_fit(out, resume=resume, overwrite=overwrite, tensorboard=tensorboard)
        self.streamed_ = self.denoised_ = self.warm_ = self.warm_info_ = self.pretrain_info_ = None
        self.pretrained_fronts_ = {}  # a round's contrastive fronts, reused by its self-training round
        if streamed:
            return self._fit_streamed(data, run, resume)
        if self.warm_start is not None:
            return self._fit_warm(data, run, resume)
        table, split_schema = self._read(data, tuning_data, run)
        parts, kind = self._split(table, split_schema)
        self.task_ = make_task(table.df.iloc[parts["train"]], self.labels, kind=self.task, imbalance=self.imbalance,
                               weights=weights)
        check_task(self.unlabeled, self.task_)
        if self.imbalance == "smote" and not isinstance(self.task_, Classification):
            raise PolymodalError(f"imbalance='smote' makes rows for one classification label; this fit's task is "
                                 f"{self.task_.kind}")
        data_all = self._features(table, parts["train"], np.concatenate([parts["train"], parts["val"]]))
        teacher = self._teach(table, data_all)
        if (self.unlabeled == "use" or self.pretrain) and len(self.unlabeled_table_.df):
            arrays = materialize(self.unlabeled_table_, self.schema_, self.encoders_, progress=self.progress)
            self.unlabeled_arrays_ = arrays if self.unlabeled == "use" else None  # self-training's second round
            self.pretrain_arrays_ = arrays if self.pretrain else None  # contrastive pre-training (pretrain.py)
        splits = {k: data_all.subset(torch.as_tensor(v, dtype=torch.long)) for k, v in parts.items()}
        self.replay_ = reservoir.draw(None, data_all, parts, self.replay, warm.plan(self), seed=self.seed)
        self.split_sizes_ = {k: len(v) for k, v in parts.items()}
        self._estimate(kind, table, parts, data_all)
        self.candidates_, best = self._fit_candidates(splits, run, resume)
        self.pretrain_arrays_, self.pretrained_fronts_ = None, {}  # the unlabeled rows' features: not kept
        self.history_ = {c.name: c.history for c in self.candidates_}
        self._choose_best(best)
        if teacher is not None:  # student against teacher: size and latency on the evaluation rows
            rows = parts["test"] if len(parts["test"]) else parts["val"]
            part = Table(table.df.iloc[rows].reset_index(drop=True), table.base_dir, table.source)
            scores = teacher.evaluate(part) if len(parts["test"]) else {}
            self.distilled_ = {"teacher": str(self.teacher), "temperature": self.temperature, "alpha": self.alpha,
                               "teacher_footprint": footprint(teacher, part),
                               "student_footprint": footprint(self, part),
                               "teacher_test": {k: v for k, v in scores.items() if isinstance(v, float)}}
        self.missing_ = self._missing_modality(splits)
        self.mattered_ = self._mattered(splits[self.eval_split_])
        self._finish_fit(run)
        return self

    def _fit_warm(self, data, run: Path | None, resume: bool) -> Predictor:
        """An online update of the run `warm_start` on `data`'s rows (predict/warm.py)."""
        splits = warm.start(self, data, run)
        self.candidates_, best = self._fit_candidates(splits, run, resume)
        self.history_ = {c.name: c.history for c in self.candidates_}
        self._choose_best(best)
        self.missing_ = self._missing_modality(splits)
        self.mattered_ = self._mattered(splits[self.eval_split_])
        warm.before_after(self)
        self._finish_fit(run)
        return self

    def _fit_streamed(self, data, run: Path | None, resume: bool) -> Predictor:
        """The fit of a table larger than memory (predict/streamed.py): the same candidates, selection and report,
        on memory-mapped features; robustness and the modality summary on a bounded sample of the evaluation rows."""
        self.distill_task_ = self.distilled_ = self.replay_ = None
        splits = fit_streamed(self, data, run, resume)
        self.candidates_, best = self._fit_candidates(splits, run, resume)
        self.history_ = {c.name: c.history for c in self.candidates_}
        self._choose_best(best)
        sample = {k: bounded(v, EVAL_ROWS, self.seed) for k, v in splits.items()}
        self.missing_ = self._missing_modality(sample)
        self.mattered_ = self._mattered(sample[self.eval_split_])
        self._finish_fit(run)
        features = Path(self.streamed_["features"])
        if features.exists():  # the mapped features served the fit; the feature cache keeps them for the next one
            shutil.rmtree(features, ignore_errors=True)
        return self

    def _check_before_work(self, tuning_data) -> list[float] | None:
        """Every setting, before any time is spent on the table; returns the label weights."""
        check_settings(epochs=self.epochs, batch_size=self.batch_size, patience=self.patience, hidden=self.hidden,
                       lr=self.lr, weight_decay=self.weight_decay, dropout=self.dropout,
                       modality_dropout=self.modality_dropout)
        check_options(self._options, self._fusions(), base={"hidden": self.hidden, "dropout": self.dropout})
        check_estimate(self.estimate, self.folds)
        check_bag_folds(self.bag_folds)
        check_unlabeled(self.unlabeled, self.bag_folds)
        parse_augment(self.augment)
        check_time_limit(self.time_limit)
        check_denoise(self.denoise)
        check_pretrain(self.pretrain, self.denoise)
        warm.check(self, tuning_data)
        check_private(self, tuning_data)
        check_distill(self.teacher, self.temperature, self.alpha, self.bag_folds, self.unlabeled)
        if self.adversarial is not None:
            check_attack(self.adversarial, self.epsilon)
            if parse_augment(self.augment).mixup:
                raise PolymodalError("adversarial training and mixup cannot be combined: the attack raises the loss "
                                     "against each row's own label, which mixup replaces; choose one")
        if self.tabular not in ("group", "separate"):
            raise PolymodalError(f"unknown tabular option {self.tabular!r}; valid: group (the numeric and categorical "
                                 "columns as one modality), separate (each a modality of its own)")
        fusions, classical = self._fusions(), self._classical()  # each raises on a name it does not know
        if not fusions and not classical:
            raise PolymodalError("nothing to fit: fusion='none' trains no fusion and classical='none' no classical "
                                 "candidate; give one of them")
        if self.estimate == "cv" and tuning_data is not None:
            raise PolymodalError("estimate='cv' cross-validates over the table's own rows; it takes no tuning_data")
        return self._label_weights()

    def _read(self, data, tuning_data, run: Path | None) -> tuple[Table, Schema]:
        """The validated table (with the tuning table's rows, when given) and the schema that splits it."""
        table = read_table(data)
        self.schema_ = split_schema = detect_schema(table, label=self.labels, overrides=self.overrides or {})
        if tuning_data is not None:
            table, split_schema = with_tuning_rows(table, read_table(tuning_data), self.schema_, seed=self.seed)
        if self.tabular == "group":  # the numeric and categorical columns as one modality (schema.group_tabular)
            inputs = [c.name for c in self.schema_.columns]
            self.schema_ = group_tabular(self.schema_, inputs)
            split_schema = group_tabular(split_schema, inputs)
            table = with_group_cells(table, self.schema_)
        if not len(set_aside(table, self.labels)[0].df):  # before checking every cell: nothing to fit anyway
            raise PolymodalError(f"{table.source}: no row has a label in {', '.join(self.labels)}; a fit needs "
                                 "labelled rows (rows with no label are only set aside or pseudo-labelled)")
        # every row's cells are checked in place (errors name the table's own rows); then the rows without any
        # label are set aside, and kept for self-training with unlabeled="use" (predict/unlabeled.py)
        report = validate(table, split_schema, on_error=self.on_error, require_all=self.require_all,
                          allow_unlabeled=True)
        if run is not None:
            write_skipped(report, run / "skipped.csv")
        self.skipped_ = report.skipped
        labelled, self.unlabeled_table_ = set_aside(report.table, self.labels)
        self.unlabeled_ = {"policy": self.unlabeled, "rows": len(self.unlabeled_table_.df)}
        self.unlabeled_arrays_ = self.pretrain_arrays_ = None
        if len(self.unlabeled_table_.df):
            logger.info("%d row(s) without a label: %s", len(self.unlabeled_table_.df), "pseudo-labelled in a second "
                        "round" if self.unlabeled == "use" else "set aside (--unlabeled use pseudo-labels them)")
        self.columns_ = list(self.schema_.modalities)
        if not self.columns_:
            raise PolymodalError(f"{table.source}: no input columns besides the label(s); roles: "
                                 + ", ".join(f"{c.name}={c.role}" for c in self.schema_.columns))
        return labelled, split_schema

    def _features(self, table: Table, train_rows: np.ndarray, view_rows: np.ndarray | None = None) -> ArrayData:
        """Every row's encoder inputs (cached features for frozen encoders) and the task's targets; with
        augmentation of a cached column, its augmented views of `view_rows` (the rows that may train)."""
        torch.manual_seed(self.seed)  # trainable encoders are initialised here: same seed, same weights
        self.encoders_ = choose_encoders(self.schema_, self.columns_, parse_encoder_spec(self.encoders),
                                         pretrained=self.pretrained, mode=self.encoder_mode)
        self.augmenter_ = self._augmenter()
        for column, encoder in self.encoders_.items():
            encoder.prepare(table.df[column].iloc[train_rows].dropna().tolist())
        data_all = materialize(table, self.schema_, self.encoders_, progress=self.progress)
        data_all.targets = encode_targets(self.task_, table.df)
        groups = shared_file_groups(table.df, [c for c in self.columns_ if self.schema_.modalities[c] in MEDIA])
        data_all.groups = None if groups is None else torch.as_tensor(groups)
        if self.augmenter_ is not None and view_rows is not None:
            self._add_views(table, data_all, view_rows)
        return data_all

    def _add_views(self, table: Table, data: ArrayData, rows: np.ndarray) -> None:
        """`data.inputs[column + VIEWS]`, `[N, K, D]`: K augmented views of each cached image or text column's
        `rows` (training/augment.py), encoded once each and cached; other rows keep copies of their plain
        features (they never train)."""
        from ..encoders.cache import FeatureCache

        aug = self.augmenter_.aug
        cache, rows = FeatureCache(), np.sort(rows)
        for column in self.augmenter_.viewed:
            role, names = self.schema_.modalities[column], aug.ops[self.schema_.modalities[column]]
            logger.info("augment: %d cached view(s) of %s (%s) for %d rows", aug.views, column, "+".join(names),
                        len(rows))
            values = cell_values(table, column, role)
            plain = data.inputs[column].float()
            views = plain.unsqueeze(1).repeat(1, aug.views, 1)
            for v in range(aug.views):
                feats, present = cache.extract(self.encoders_[column], [values[i] for i in rows],
                                               base_dir=table.base_dir, progress=self.progress,
                                               view=view_transform(role, names, v))
                kept = torch.as_tensor(rows[present])
                views[kept, v] = torch.from_numpy(np.asarray(feats, dtype=np.float32)[present])
            data.inputs[column + VIEWS] = views

    def _estimate(self, kind: str, table: Table, parts: dict[str, np.ndarray], data_all: ArrayData) -> None:
        """Cross-validate when `kind` says so; record where the figures come from and which rows were seen."""
        strat = self._stratify_on()
        if kind == "cv":
            labels = table.df[strat].astype(str).to_numpy() if strat else None
            self.cv_ = cross_validate(self, data_all, labels, np.arange(len(table)))
        rows = {"cv": len(table), "test": len(parts["test"]), "val": len(parts["val"])}[kind]
        self.estimate_kind_ = kind
        self.estimate_ = where_from(kind, rows, chose="selection (early stopping, choosing the fusion)",
                                    folds=self.folds, metric=self.task_.monitor)
        self.seen_columns_ = fingerprint_columns(self.schema_, self.columns_)
        used = np.concatenate([parts["train"], parts["val"]])
        self.seen_ = np.unique(fingerprints(table, self.schema_, self.seen_columns_)[used])

    def _teach(self, table: Table, data: ArrayData):
        """With a teacher: its log-probabilities of every row, carried with the rows as `inputs["@soft"]` (models
        ignore the key; predict/candidates.py turns it into soft targets), and the distillation task."""
        self.distill_task_, self.distilled_ = None, None
        if self.teacher is None:
            return None
        if not isinstance(self.task_, Classification):
            raise PolymodalError(f"distillation needs single-label classification; this fit's task is "
                                 f"{self.task_.kind}")
        teacher = load_teacher(self.teacher)
        data.inputs["@soft"] = teacher_logits(teacher, table, self.task_)
        self.distill_task_ = Distillation(self.task_, self.temperature, self.alpha)
        return teacher

    def _augmenter(self) -> BatchAugmenter | None:
        """The batch augmentation of the neural candidates, checked against the chosen encoders (before any
        feature is computed); None when off."""
        aug = parse_augment(self.augment)
        if not aug:
            return None
        roles = {c: self.schema_.modalities[c] for c in self.columns_}
        trainable = {c for c in self.columns_ if not is_cached(self.encoders_[c])}
        check_columns(aug, roles, trainable)
        return BatchAugmenter(aug, roles, trainable)

    def _stratify_on(self) -> str | None:
        return self.labels[0] if len(self.labels) == 1 else None

    def _split(self, table: Table, schema: Schema) -> tuple[dict[str, np.ndarray], str]:
        """The final fit's rows, and where the reported figures come from (estimate.py): "cv" with
        estimate="cv", or "auto" on a table without a split column and under CV_BELOW rows."""
        has_split = bool(schema.names("split"))
        cv = self.estimate == "cv" or (self.estimate == "auto" and not has_split and len(table) < CV_BELOW)
        if cv:  # the final model is refitted on every row: train/val only
            schema = Schema([c for c in schema.columns if c.role != "split"], schema.source)
        media = [c for c in self.columns_ if self.schema_.modalities[c] in MEDIA]
        parts = split_rows(table.df, schema, self._stratify_on(), seed=self.seed, test=not cv,
                           groups=shared_file_groups(table.df, media))  # shared files: one side only
        if len(parts["val"]) == 0:
            raise PolymodalError(f"{table.source}: no validation rows (split column has no 'val' rows)")
        return parts, "cv" if cv else "test" if len(parts["test"]) else "val"

    def _label_weights(self) -> list[float] | None:
        """One loss weight per label (checked before any work), or None when none was given."""
        if not self.label_weights:
            return None
        unknown = [c for c in self.label_weights if c not in self.labels]
        if unknown:
            raise PolymodalError(f"label_weights names {', '.join(map(repr, unknown))}, not a label of this fit; "
                                 f"labels: {', '.join(self.labels)}")
        if len(self.labels) < 2:
            raise PolymodalError("label_weights weigh the losses of several labels; this fit has one label")
        return check_weights([self.label_weights.get(c, 1.0) for c in self.labels], self.labels)

    def _classical(self) -> list[str]:
        if self.dp_epsilon is not None:  # a private fit trains one model (predict/private.py)
            return []
        names = [n.strip() for n in str(self.classical).split(",") if n.strip() and n.strip() != "none"]
        unknown = [n for n in names if n not in classical_names()]
        if unknown:
            raise PolymodalError(f"unknown classical candidate(s) {', '.join(map(repr, unknown))}; valid: "
                                 f"{', '.join(classical_names())}, or none")
        return names

    def _fusions(self) -> list[str]:
        # "all": every registered fusion but `linear`, whose closed-form fit is the linear probe candidate
        if self.fusion == "all":
            names = [f for f in fusion_names() if f != "linear"]
        elif self.fusion == "none":  # classical candidates only
            names = []
        else:
            names = [f.strip() for f in self.fusion.split(",") if f.strip()]
        valid = fusion_names()
        for name in names:
            if name not in valid:
                raise PolymodalError(f"unknown fusion {name!r}; valid: {', '.join(valid)}, all, or none")
        return names

    def _fit_candidates(self, splits: dict[str, ArrayData], workdir: Path | None, resume: bool, *, stage: str = ""
                        ) -> tuple[list[Candidate], Candidate]:
        """Every candidate trained, and the one to save chosen on validation; with unlabeled="use", a second round
        on the pseudo-labelled rows too (predict/unlabeled.py). The final fit and each cross-validation fold."""
        rounds = 2 if getattr(self, "unlabeled_arrays_", None) is not None else 1
        with self.budget_.share(rounds):  # a time limit: self-training's first round gets half
            cands = self._train_all(splits, workdir, resume, stage=stage)
        best = self._select(cands, splits)
        if rounds == 2:
            cands, best, info = self_train(self, cands, best, splits, workdir, resume, stage=stage)
            if not stage:  # the final fit's round, for the report
                self.unlabeled_ = {**self.unlabeled_, **info}
        return cands, best

    def _train_all(self, splits: dict[str, ArrayData], workdir: Path | None, resume: bool, *, stage: str = ""
                   ) -> list[Candidate]:
        """Every candidate trained on `splits` (`stage` prefixes its log rows: a cross-validation fold's), once
        or, with `bag_folds`, as a k-fold bag (predict/bagging.py)."""
        if self.bag_folds:
            return bag(self, splits, workdir, resume, stage=stage)
        return self._train_once(splits, workdir, resume, stage=stage)

    def _train_once(self, splits: dict[str, ArrayData], workdir: Path | None, resume: bool, *, stage: str = ""
                    ) -> list[Candidate]:
        return train_once(self, splits, workdir, resume, stage=stage)

    def _model(self, fusion: str, columns: list[str], modality_dropout: float, options: dict | None
               ) -> MultimodalModel:
        return build_model(fusion, columns, self.encoders_, self.task_.out_dim, hidden=self.hidden,
                           dropout=self.dropout, modality_dropout=modality_dropout,
                           fusion_options=options_for(options, fusion), seed=self.seed)

    def _select(self, cands: list[Candidate], splits: dict[str, ArrayData]) -> Candidate:
        """Add the ensemble (when asked and possible) to `cands`, and return the candidate to save: the best
        single one (fusions, probes) on validation, or the ensemble when it beats that one there. Ties go to
        the single model: smaller, faster, and the ensemble's weights were themselves fitted on those rows."""
        singles = [c for c in cands if c.kind in SELECTABLE]
        if not singles:
            raise PolymodalError(f"no candidate to choose from: the classical candidates ({self.classical}) read only "
                                 "columns with fixed features (a frozen pretrained encoder, numbers, categories), "
                                 f"and this fit's columns ({', '.join(self.columns_)}) have none; train a fusion")
        best = max(singles, key=lambda c: c.val.get(self.task_.monitor, -np.inf))
        ensemble = self._ensemble(cands, splits)
        if ensemble is None:
            return best
        cands.append(ensemble)
        better = ensemble.val.get(self.task_.monitor, -np.inf) > best.val.get(self.task_.monitor, -np.inf)
        return ensemble if better else best

    def _parts_of(self, c: Candidate) -> dict:
        """How model.json describes `c` as a member of an ensemble or a bag, to rebuild it (run_io.py)."""
        return {"name": c.name, "kind": c.kind, "fusion": c.fusion, "columns": c.columns,
                "fusion_options": options_for(self._options, c.fusion) if c.kind == "fusion" else {}}

    def _choose_best(self, best: Candidate) -> None:
        self.best_, self.model_, self.fusion_ = best, best.model, best.fusion
        self.ensemble_parts_ = best.parts or None  # an ensemble's or a bag's members
        # the options model_ was built with: a fusion's; the probe, the ensemble and a bag take none (their
        # members keep their own in model.json)
        self.model_options_ = options_for(self._options, self.fusion_) if best.kind == "fusion" and not best.parts \
            else {}

    def _mattered(self, part: ArrayData) -> list[dict]:
        """Which modality mattered to the saved model on the evaluation split (predict/explain.py): mean
        |Shapley value| and permutation importance, for the report; empty for a task it does not cover."""
        from ..tasks import Regression

        if not isinstance(self.task_, Classification | Regression) or not len(part):
            return []
        return explain.summary(self.model_, part, self.task_, seed=self.seed, groups=self._member_slots()
                               ).to_dict(orient="records")

    def _member_slots(self) -> dict[str, dict[str, slice]]:
        return {c: self.encoders_[c].member_slots() for c in self.model_.modalities
                if hasattr(self.encoders_[c], "member_slots")}

    def best_fusion(self) -> Predictor:
        """This predictor with its best fused neural candidate (by validation, from the comparison) as the model:
        what `cluster` embeds with when the saved model is an ensemble or a classical model, which have no fused
        representation. The candidate's weights come from the fit (or from `RUN/candidates/` for a loaded run)."""
        import copy

        from ..runs.files import load_tensors
        from .fitting import _slug

        if isinstance(self.model_, MultimodalModel):
            return self
        rows = self.comparison_ if hasattr(self, "candidates_") else pd.read_csv(self.run_dir_ / "comparison.csv")
        fused = rows[rows["kind"] == "fusion"]
        column = f"val_{self.task_.monitor}"
        if not len(fused) or column not in fused:
            raise PolymodalError("this run has no fused neural candidate to embed with (it was fitted with "
                                 "--fusion none); refit with a fusion")
        name = str(fused.sort_values(column, ascending=False)["name"].iloc[0])
        out = copy.copy(self)
        found = [c for c in getattr(self, "candidates_", []) if c.name == name and c.model is not None]
        if found:
            out.model_ = found[0].model
        else:
            path = Path(getattr(self, "run_dir_", "")) / "candidates" / f"{_slug(name)}.safetensors"
            if not path.exists():
                raise PolymodalError(f"no saved weights for the candidate {name!r} ({path})")
            missing = [c for c in self.columns_ if c not in self.encoders_]
            if missing:
                raise PolymodalError(f"the candidate {name!r} reads {', '.join(missing)}, whose encoder this run did "
                                     "not keep (its saved model does not read them)")
            model = self._model(name, self.columns_, modality_dropout=0.0, options=self.fusion_options)
            weights = load_tensors(path)
            attach_from_weights(model, weights)  # its denoisers, if the fit had them
            model.load_state_dict(weights)
            out.model_ = model.eval()
        out.fusion_, out.model_options_ = name, options_for(self._options, name)
        return out

    def explain(self, data, *, rows: int | None = None, repeats: int = 5) -> dict:
        """Which modality drove each prediction (predict/explain.py). Returns `contributions` (per row: the
        Shapley value of each modality toward the predicted class's probability, or the predicted value; the
        `base` with nothing shown and the `prediction` with everything; they add up), `mean_abs` (per
        modality) and, when the table has the label, `permutation` (the metric's drop per modality and per
        tabular member). `rows`: the first N rows only."""
        explain.check_task(self.task_)
        table, arrays = self._inputs(data)
        if rows is not None:
            arrays = arrays.subset(torch.arange(min(rows, len(arrays))))
            table = Table(table.df.iloc[:rows].reset_index(drop=True), table.base_dir, table.source)
        phi, base, full = explain.shapley(self.model_, arrays, self.task_, seed=self.seed)
        contributions = pd.concat([phi.add_prefix("shapley_"), pd.DataFrame({"base": base, "prediction": full})],
                                  axis=1)
        out = {"contributions": contributions, "mean_abs": phi.abs().mean().sort_values(ascending=False),
               "permutation": None}
        if all(c in table.df.columns and table.df[c].notna().all() for c in self.labels):
            arrays.targets = encode_targets(self.task_, table.df)
            out["permutation"] = explain.permutation_importance(self.model_, arrays, self.task_, repeats=repeats,
                                                                seed=self.seed, groups=self._member_slots())
        return out

    def image_maps(self, data, *, rows: int = 8, columns: list[str] | None = None) -> list[dict]:
        """Where in each image the prediction came from (predict/image_maps.py, Captum): per row (the first `rows`)
        and image column, a map `[H, W]` over the encoder's input pixels toward the predicted class's probability:
        integrated gradients where the model reads pixels, occlusion through the frozen encoder where it reads cached
        features. Each item: row, column, file, predicted, method, map, image (the encoder's input)."""
        from .image_maps import image_maps

        return image_maps(self, data, rows=rows, columns=columns)

    def _missing_modality(self, splits: dict[str, ArrayData]) -> list[dict]:
        """Each fusion's metric on the evaluation split with every modality, then with each one absent."""
        self.eval_split_ = "test" if len(splits["test"]) else "val"
        part = splits[self.eval_split_]
        self.eval_targets_, self.eval_logits_ = part.targets, {}
        rows = []
        for cand in (c for c in self.candidates_ if c.kind in (*SELECTABLE, "ensemble")):
            for dropped in [None, *self.columns_]:
                data = part if dropped is None else part.drop(dropped)
                logits = predict_logits(cand.model, data)
                if dropped is None:
                    self.eval_logits_[cand.name] = logits
                metrics = self.task_.metrics(logits, part.targets)
                rows.append({"name": cand.name, "condition": "all" if dropped is None else f"no {dropped}",
                             self.task_.monitor: _monitor(metrics, self.task_),
                             **({"accuracy": metrics["accuracy"]} if "accuracy" in metrics else {})})
        return rows

    def _ensemble(self, cands: list[Candidate], splits: dict[str, ArrayData]) -> Candidate | None:
        """Ensemble selection (predict/selection.py) over every trained candidate's validation probabilities,
        baselines included (they add diverse errors); None without `ensemble`, for one candidate, or for a task
        other than single-label classification."""
        members = [c for c in cands if c.model is not None and c.kind in (*SELECTABLE, "unimodal")]
        if not self.ensemble or len(members) < 2 or not isinstance(self.task_, Classification):
            return None
        val = splits["val"]
        # a bag is chosen on its out-of-fold predictions over the pooled rows, so its weights are too
        chosen_on = [c.selection or (predict_logits(c.model, val), val.targets) for c in members]
        probas = [torch.softmax(logits, 1).double().numpy() for logits, _ in chosen_on]
        weights = ensemble_selection(probas, chosen_on[0][1].numpy())
        chosen = [(c, float(w)) for c, w in zip(members, weights, strict=True) if w > 0]
        if len(chosen) < 2:  # the selection kept one candidate: that candidate is already in the comparison
            return None
        # flat: a bagged member brings its fold models, each with its share of the member's weight
        flat = [(m, w * part["weight"], part) for c, w in chosen
                for m, part in zip(_members(c), c.parts or [{**self._parts_of(c), "weight": 1.0}], strict=True)]
        model = WeightedEnsemble([m for m, _, _ in flat], [w for _, w, _ in flat])
        ens = Candidate("ensemble", "ensemble", "ensemble", self.columns_, model=model,
                        seconds=sum(c.seconds for c, _ in chosen),
                        parts=[{**part, "weight": w} for _, w, part in flat])
        if chosen[0][0].selection is not None:  # bagged members: the ensemble is scored out-of-fold, as they are
            proba = sum(w * torch.softmax(c.selection[0].double(), 1) for c, w in chosen)
            ens.selection = (torch.log(proba.clamp_min(1e-12)).float(), chosen_on[0][1])
        score(ens, self.task_, splits)
        return ens

    # ------------------------------------------------------------- predict
    def _inputs(self, data, drop: list[str] | None = None) -> tuple[Table, ArrayData]:
        self._check_fitted()
        table = read_table(data)
        lost = [m for c in self.model_.modalities for m in self.schema_.members(c)  # a group's missing columns
                if m != c and m not in table.df.columns]
        if lost and self.require_all:
            raise PolymodalError(f"{table.source}: no column(s) {', '.join(lost)}, which this model needs: it was "
                                 "fitted with require_all=True (--require-all), so no column may be missing")
        if lost:
            warnings.warn(f"{table.source}: no column(s) {', '.join(lost)}; predicting with the other columns of the "
                          "group", stacklevel=3)
        table = with_group_cells(table, self.schema_)  # a tabular group's cells, from its members
        absent = [c for c in self.model_.modalities if c not in table.df.columns]
        hints = ""
        if absent:
            known = {k.name for k in self.schema_.columns}
            unused = [str(c) for c in table.df.columns if c not in known]
            near = {c: difflib.get_close_matches(c, unused, n=1) for c in absent}
            hints = "; ".join(f"{c!r}: is it {m[0]!r}?" for c, m in near.items() if m)
            if hints:
                hints = f" ({hints} rename the column to the name the model was fitted with)"
        if len(absent) == len(self.model_.modalities):
            raise PolymodalError(f"{table.source}: none of this model's input columns "
                                 f"({', '.join(self.model_.modalities)}) is in the table{hints}; its columns: "
                                 f"{', '.join(map(str, table.df.columns)) or 'none'}")
        if absent and self.require_all:
            raise PolymodalError(f"{table.source}: no column(s) {', '.join(absent)}, which this model needs: it was "
                                 f"fitted with require_all=True (--require-all), so no modality may be missing{hints}")
        if absent:
            warnings.warn(f"{table.source}: no column(s) {', '.join(absent)}; predicting without "
                          f"{'that modality' if len(absent) == 1 else 'those modalities'}{hints}", stacklevel=3)
        schema = Schema([c for c in self.schema_.columns if c.name in table.df.columns or c.name in absent],
                        table.source)
        # Every input row gets a prediction, in order: bad cells are an error here even when the fit
        # skipped them, and an empty cell is that modality missing (refused under require_all).
        table = validate(table, schema, require_all=self.require_all, check_labels=False, hint=PREDICT_HINT).table
        encoders = {c: self.encoders_[c] for c in self.model_.modalities}
        arrays = materialize(table, self.schema_, encoders, progress=self.progress)
        for column in drop or []:
            arrays = arrays.drop(column)
        return table, arrays

    def predict_proba(self, data, *, runtime: str = "torch", with_ids: bool = False) -> pd.DataFrame:
        """Predictions with their probabilities (one column per class) for every row, in order. `runtime="onnx"`
        runs fusion and head through ONNX Runtime (exported once, checked against PyTorch). `with_ids`
        puts the table's id columns (role `id`) first, so the output can be joined back to the input."""
        table, arrays = self._inputs(data)
        if runtime == "torch":
            out = self.task_.predict(predict_logits(self.model_, arrays))
        else:
            from ..export.runtime import head_runner, logits

            out = self.task_.predict(logits(head_runner(self.model_, runtime), arrays))
        ids = [c for c in self.schema_.names("id") if c in table.df.columns and c not in out.columns]
        if not (with_ids and ids):
            return out
        return pd.concat([table.df[ids].reset_index(drop=True), out.reset_index(drop=True)], axis=1)

    def predict_proba_batches(self, data, *, runtime: str = "torch", with_ids: bool = False,
                              batch_rows: int = 65_536):
        """`predict_proba` of a Parquet table larger than memory, one DataFrame per `batch_rows` rows in the table's
        order (data/stream.py), so memory follows a batch. Any other table is predicted whole, as one batch."""
        from ..data.stream import StreamTable, parquet_path

        path = parquet_path(data)
        if path is None:
            yield self.predict_proba(data, runtime=runtime, with_ids=with_ids)
            return
        from dataclasses import replace

        from ..errors import ValidationError

        for batch in StreamTable(path, batch_rows=batch_rows).batches():
            offset = int(batch.df.index[0])
            try:
                yield self.predict_proba(Table(batch.df.reset_index(drop=True), batch.base_dir, batch.source),
                                         runtime=runtime, with_ids=with_ids)
            except ValidationError as exc:  # named by the rows of the whole table, not of the batch
                raise ValidationError(exc.source, [replace(q, row=q.row + offset) for q in exc.problems],
                                      hint=PREDICT_HINT) from None

    def predict(self, data, *, runtime: str = "torch") -> pd.Series | pd.DataFrame:
        out = self.predict_proba(data, runtime=runtime)
        labels = [c for c in out.columns if not c.startswith("proba_")]
        return out[labels[0]] if len(labels) == 1 else out[labels]

    def embed(self, data, *, column: str | None = None, batch_size: int = 512) -> np.ndarray:
        """Per row, the fused representation the head reads (`[N, width]` of the chosen fusion; for late
        fusion, its per-class scores), or with `column` that column's own features (`[N, D]` from its encoder,
        zeros where the cell is empty). Rows come back in the table's order."""
        check_single(self.model_, "embed rows")
        check_neural(self.model_, "embed rows")
        _, arrays = self._inputs(data)
        if column is not None and column not in self.model_.modalities:
            raise PolymodalError(f"no input column {column!r}; this model's: {', '.join(self.model_.modalities)}")
        self.model_.eval()
        parts = []
        with torch.inference_mode():
            for start in range(0, len(arrays), batch_size):
                inputs, masks, _ = arrays.take(torch.arange(start, min(start + batch_size, len(arrays))))
                feats = self.model_.features(inputs)
                if column is None:
                    parts.append(self.model_.fusion(feats, {m: masks[m] for m in self.model_.modalities}))
                else:
                    pooled = feats[column].mean(1) if feats[column].dim() == 3 else feats[column]
                    parts.append(pooled * masks[column].unsqueeze(1).to(pooled.dtype))
        return torch.cat(parts).float().numpy() if parts else np.zeros((0, 0), dtype=np.float32)

    def robustness(self, data, *, attack: str = "fgsm", epsilons: list[float] | tuple = (0.05, 0.1, 0.2),
                   exclude_seen: bool = False) -> pd.DataFrame:
        """The saved model's metric on a labelled table with its continuous inputs attacked (FGSM or PGD,
        predict/attack.py) at each budget: every modality at once and each alone; epsilon 0 is the clean
        figure."""
        from .attack import robustness

        table, arrays = self._inputs(self._unseen(read_table(data), exclude_seen))
        arrays.targets = self._targets(table, "an attack")
        return robustness(self.model_, self.task_, arrays, kind=attack, epsilons=list(epsilons))

    def evaluate(self, data, *, drop: str | list[str] | None = None, exclude_seen: bool = False) -> dict:
        """Metrics on a labelled table; `drop` hides modalities (column names or roles) to test robustness.
        Rows the fit trained on or chose with are counted and warned about (their metrics are optimistic);
        `exclude_seen` leaves them out."""
        drop_cols = self._resolve_drop(drop)
        table, arrays = self._inputs(self._unseen(read_table(data), exclude_seen), drop_cols)
        return self.task_.metrics(predict_logits(self.model_, arrays), self._targets(table, "evaluation"))

    def _targets(self, table: Table, purpose: str):
        """The table's label cells, checked (present, known classes) and encoded for the task."""
        missing = [c for c in self.labels if c not in table.df.columns]
        if missing:
            raise PolymodalError(f"{table.source}: {purpose} needs the label column(s) {', '.join(missing)}")
        known = {t.column: set(t.classes) for t in _tasks(self.task_) if isinstance(t, Classification)}
        report = validate(table, Schema([c for c in self.schema_.columns if c.role == "label"], table.source),
                          known_labels=known, hint="Fix these label cells, or drop their rows from the table.")
        return encode_targets(self.task_, report.table.df)

    def _unseen(self, table: Table, exclude: bool) -> Table:
        self._check_fitted()
        if getattr(self, "seen_", None) is None or not len(table):
            return table
        seen = seen_mask(table, self.schema_, self.seen_columns_, self.seen_)
        if not seen.any():
            return table
        if not exclude:
            warnings.warn(f"{table.source}: {int(seen.sum())} of {len(table)} rows were used to fit this model "
                          "(training or selection), so its metrics on them are optimistic; exclude_seen=True "
                          "(--exclude-seen) leaves them out", stacklevel=3)
            return table
        if seen.all():
            raise PolymodalError(f"{table.source}: every row was used to fit this model; nothing is left to "
                                 "evaluate once they are excluded")
        return Table(table.df[~seen].reset_index(drop=True), table.base_dir, table.source)

    def _resolve_drop(self, drop: str | list[str] | None) -> list[str]:
        names = [drop] if isinstance(drop, str) else list(drop or [])
        out = []
        for name in names:
            hits = [c for c in self.model_.modalities if c == name or self.schema_.modalities.get(c) == name]
            if not hits:
                raise PolymodalError(f"cannot drop {name!r}: the model's modalities are "
                                     f"{', '.join(self.model_.modalities)}")
            out += hits
        return out

    # ------------------------------------------------------ run directory (see run_io.py)
    def _save_state(self, run: Path) -> None:
        run_io.save_state(self, run)

    def _load_state(self, run: Path) -> None:
        run_io.load_state(self, run)

    def _summary(self) -> dict:
        return run_io.metrics_summary(self)

    def _write_report(self, run: Path) -> None:
        self.comparison_.to_csv(run / "comparison.csv", index=False)
        from .report import write_run_report

        write_run_report(self, run)

    def _card(self, summary: dict) -> list[tuple[str, str]]:
        return run_io.card_sections(self, summary)

    @property
    def comparison_(self) -> pd.DataFrame:
        """One row per candidate: kind, validation and test metrics, training time."""
        rows = []
        for c in self.candidates_:
            row = {"name": c.name, "kind": c.kind, "seconds": round(c.seconds, 2), "best_epoch": c.best_epoch}
            for split, metrics in (("val", c.val), ("test", c.test)):
                for key in (self.task_.monitor, "accuracy", "f1_macro", "rmse", "r2"):
                    if key in metrics:
                        row[f"{split}_{key}"] = metrics[key]
            cv = getattr(self, "cv_", {}).get("candidates", {}).get(c.name)
            if cv and self.task_.monitor in cv["mean"]:
                row[f"cv_{self.task_.monitor}"] = cv["mean"][self.task_.monitor]
                row[f"cv_{self.task_.monitor}_std"] = cv["std"][self.task_.monitor]
            rows.append(row)
        return pd.DataFrame(rows)


def _members(c: Candidate) -> list:
    """The fitted models inside `c`: a bag's fold models, or `c`'s own."""
    return list(c.model.members) if c.parts else [c.model]


def _tasks(task: Task) -> list[Task]:
    return task.tasks if isinstance(task, MultiTask) else [task]


def _monitor(metrics: dict, task: Task) -> float:
    return float(metrics[task.monitor])


