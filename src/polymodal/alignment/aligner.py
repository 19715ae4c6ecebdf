"""`Aligner`: a shared embedding space for two or three columns of a table (image-text,
audio-text, audio-image, or all three), learned on top of frozen unimodal encoders.

    a = Aligner(["image", "caption"]).fit("pairs.parquet", out="runs/align")
    a.evaluate(test_table)              # Recall@1/5/10 both ways, against ASIF and chance
    a.embed("caption", ["a red apple"]) # L2-normalised vectors in the shared space
    Aligner.load("runs/align")          # or polymodal.load(...)

`method` picks how the space is made: `contrastive` heads trained by the loop, or a closed form
solved from the frozen features (`cca`, `procrustes`, `ridge`, `asif`; see methods/). `auto` (the
default) fits them all and keeps the best mean Recall@1 on validation; the closed forms are fitted
as baselines under any method whenever the features are cached, and the report lists them all.
Whatever is chosen is what `embed`, `search`, the index builder, zero-shot and serving use.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..data.splits import split_rows
from ..data.table import read_table
from ..data.text import normalize_text
from ..data.validate import is_missing, validate, write_skipped
from ..encoders.materialize import choose_encoders, is_cached, materialize, parse_encoder_spec
from ..errors import PolymodalError
from ..runs.figures import where_from
from ..runs.job import Job
from ..schema import Schema, detect_schema
from ..training.data import ArrayData, take
from ..training.loop import predict_logits, train
from ..training.settings import check_settings
from . import run_io
from .candidates import CONTRASTIVE, MIN_ROWS, check_method, choose, fit_closed_forms, space_outputs, trainable_columns
from .model import AlignmentModel
from .spoken import NAME as SPOKEN
from .spoken import SpokenSpace, reference_texts, spoken_cells, spoken_pair, why_not
from .task import AlignmentTask

ALIGNABLE = ("image", "audio", "text", "video")
LOSSES = ("infonce", "siglip")
INITS = ("random", "cca")  # where the contrastive heads start; "cca": see model.py (measured, not better)


class Aligner(Job):
    kind = "aligner"
    FILES = ("schema.json", "encoders.json", "aligner.json")

    def __init__(self, columns: list[str] | None = None, *, encoders: str | dict | None = None,
                 loss: str = "infonce", dim: int = 256, hidden: int = 512, dropout: float = 0.1,
                 lock: list[str] | None = None, temperature: float = 0.07, epochs: int = 30, batch_size: int = 256,
                 lr: float = 1e-3, weight_decay: float = 0.05, patience: int = 6, seed: int = 0,
                 key: str | None = None, overrides: dict[str, str] | None = None, on_error: str = "error",
                 pretrained: bool = True, encoder_mode: str | None = None, method: str = "auto",
                 init: str = "random", progress: bool = True):
        if loss not in LOSSES:
            raise PolymodalError(f"unknown alignment loss {loss!r}; valid: {', '.join(LOSSES)}")
        check_method(method)
        if init not in INITS:
            raise PolymodalError(f"unknown init {init!r} for the contrastive heads; valid: {', '.join(INITS)}")
        # stored as given (scikit-learn's rule, so clone() works)
        self.columns, self.encoders, self.loss = columns, encoders, loss
        self.dim, self.hidden, self.dropout, self.lock = dim, hidden, dropout, lock
        self.temperature, self.epochs, self.batch_size, self.lr = temperature, epochs, batch_size, lr
        self.weight_decay, self.patience, self.seed, self.key = weight_decay, patience, seed, key
        self.overrides, self.on_error, self.pretrained = overrides, on_error, pretrained
        self.encoder_mode, self.method, self.init, self.progress = encoder_mode, method, init, progress

    # ----------------------------------------------------------------- fit
    def fit(self, data, *, out: str | Path | None = None, resume: bool = False, overwrite: bool = False,
            tensorboard: bool = False) -> Aligner:
        """Fit on `data`; `out`, `resume`, `overwrite` as for `Predictor.fit`."""
        check_settings(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                       patience=self.patience, dim=self.dim, hidden=self.hidden, dropout=self.dropout,
                       temperature=self.temperature)
        run = self._start_fit(out, resume=resume, overwrite=overwrite, tensorboard=tensorboard)
        table = read_table(data)
        self.schema_ = detect_schema(table, overrides=self.overrides or {})
        self.columns_ = self._pick_columns()
        report = validate(table, Schema([c for c in self.schema_.columns if c.name in self.columns_], table.source),
                          on_error=self.on_error)
        if run is not None:
            write_skipped(report, run / "skipped.csv")
        table = report.table
        parts = split_rows(table.df, self.schema_, None, seed=self.seed)
        torch.manual_seed(self.seed)
        self.encoders_ = choose_encoders(self.schema_, self.columns_, parse_encoder_spec(self.encoders),
                                         pretrained=self.pretrained, mode=self.encoder_mode)
        self._check_closed_form()
        for column, encoder in self.encoders_.items():
            encoder.prepare(table.df[column].iloc[parts["train"]].dropna().tolist())
        arrays = materialize(table, self.schema_, self.encoders_, progress=self.progress)
        arrays.targets = self._keys(table.df)
        splits = {k: arrays.subset(torch.as_tensor(v, dtype=torch.long)) for k, v in parts.items()}
        self._cells = {k: self._spoken_cells(table, v) for k, v in parts.items()}
        try:
            self._fit_candidates(splits, run, resume)
            self.split_sizes_ = {k: len(v) for k, v in parts.items()}
            self.eval_split_ = "test" if len(parts["test"]) else "val"
            self.estimate_ = where_from(self.eval_split_, len(parts[self.eval_split_]))
            self.metrics_ = self._score(splits)
        finally:
            del self._cells  # the table's cells: only for scoring `spoken` during the fit
        self._finish_fit(run)
        return self

    def _spoken_cells(self, table, rows=None) -> dict | None:
        """The spoken pair's cells (audio paths made absolute, texts) of `rows`, when `spoken` is fitted."""
        pair = spoken_pair(self.schema_, self.encoders_)
        if pair is None or self.method not in ("auto", SPOKEN) or trainable_columns(self.encoders_):
            return None  # spoken embeds cached features: with a fine-tuned encoder there are none
        return spoken_cells(table, SpokenSpace(*pair, dim=0), rows)

    def _check_closed_form(self) -> None:
        """Before extracting anything: a closed form asked for needs cached features in every column."""
        trainable = trainable_columns(self.encoders_)
        if self.method == SPOKEN and spoken_pair(self.schema_, self.encoders_) is None:
            raise PolymodalError(why_not(self.schema_, self.encoders_))
        if self.method not in ("auto", CONTRASTIVE) and self.lock:
            raise PolymodalError(f"lock (LiT) keeps a column's features for the contrastive heads; method "
                                 f"{self.method!r} trains no heads: drop lock or use method 'contrastive' or 'auto'")
        if self.method not in ("auto", CONTRASTIVE) and trainable:
            raise PolymodalError(f"method {self.method!r} solves the space from frozen features, but "
                                 + ", ".join(f"{c!r} uses the trainable encoder {self.encoders_[c].name!r}"
                                             for c in trainable)
                                 + "; give those columns a pretrained encoder (--encoders) or use method "
                                 "'contrastive' or 'auto'")

    def _pick_columns(self) -> list[str]:
        roles = self.schema_.modalities
        columns = self.columns or [c for c, r in roles.items() if r in ALIGNABLE]
        for c in columns:
            if c not in roles or roles[c] not in ALIGNABLE:
                raise PolymodalError(f"cannot align column {c!r}: alignable columns (image, audio, text, video) are "
                                     f"{', '.join(k for k, r in roles.items() if r in ALIGNABLE) or 'none'}")
        if len(columns) < 2:
            raise PolymodalError(f"alignment needs at least two columns of image/audio/text/video; got {columns}")
        for c in self.lock or []:
            if c not in columns:
                raise PolymodalError(f"--lock {c!r} is not one of the aligned columns {columns}")
        return sorted(columns)

    def _keys(self, df) -> torch.Tensor:
        """Duplicate keys: rows with the same (normalised) text are positives of each other."""
        key = self.key or next((c for c in self.columns_ if self.schema_.modalities[c] == "text"), None)
        if key is None:
            return torch.arange(len(df))
        values = [f"\0row{i}" if is_missing(v) else normalize_text(str(v), lowercase=True)
                  for i, v in enumerate(df[key].tolist())]
        index: dict[str, int] = {}
        return torch.tensor([index.setdefault(v, len(index)) for v in values])

    def _fit_candidates(self, splits: dict[str, ArrayData], run: Path | None, resume: bool) -> None:
        """Closed forms (when every column is cached), the contrastive heads (under auto/contrastive),
        then the choice on validation; keeps every candidate until the fit is scored."""
        started = time.time()
        self.spaces_, self.closed_form_ = {}, {}
        if not trainable_columns(self.encoders_):
            self.spaces_, self.closed_form_ = fit_closed_forms(self.columns_, self.dim, splits["train"],
                                                               splits["val"])
        if self._cells["val"] is not None:  # training-free: nothing to solve, only its options to record
            dim = self.encoders_[self.columns_[0]].out_dim  # both columns are MiniLM's 384-d space
            audio, text = spoken_pair(self.schema_, self.encoders_)
            space = SpokenSpace(audio, text, dim=dim, reference=reference_texts(self._cells["train"][text], self.seed))
            self.spaces_[SPOKEN] = space
            shown = {k: v for k, v in space.options().items() if k != "reference"}  # the texts stay in aligner.json
            self.closed_form_[SPOKEN] = {"options": shown | {"reference_texts": len(space.reference)},
                                         "dim": space.out_dim, "seconds": 0.0}
        if self.method not in ("auto", CONTRASTIVE, *self.spaces_):
            raise PolymodalError(f"method {self.method!r} needs at least {MIN_ROWS} training rows with every "
                                 f"column of {', '.join(self.columns_)} present")
        self.model_, self.history_, self.best_epoch_, self.init_used_ = None, [], None, None
        if self.method in ("auto", CONTRASTIVE):
            self._train(splits, run, resume)
        self.train_seconds_ = time.time() - started
        from .evaluation import validation_scores

        started = time.time()
        self.validation_ = validation_scores(self.columns_, self._all_outputs(splits["val"], self._cells["val"]),
                                             splits["val"])
        if SPOKEN in self.closed_form_:  # hearing the validation clips is its only cost
            self.closed_form_[SPOKEN]["seconds"] = round(time.time() - started, 2)
        self.method_, self.why_ = choose({n: s["mean_recall@1"] for n, s in self.validation_.items()}, self.method)
        self.space_ = self.spaces_.get(self.method_)

    def _train(self, splits: dict[str, ArrayData], run: Path | None, resume: bool) -> None:
        in_dims = {c: e.out_dim for c, e in self.encoders_.items()}
        trainable = {c: e for c, e in self.encoders_.items() if not is_cached(e)}
        torch.manual_seed(self.seed)
        # Start at the CCA solution where one exists (frozen features, no locked column: see model.py).
        start = self.spaces_.get("cca") if self.init == "cca" and not self.lock and not trainable else None
        self.model_ = AlignmentModel(in_dims, trainable, dim=self.dim, hidden=self.hidden, dropout=self.dropout,
                                     locked=self.lock or [], temperature=self.temperature, loss=self.loss,
                                     residual=start is not None)
        if start is not None:
            self.model_.start_at({c: tuple(torch.from_numpy(a).float() for a in start.linear(c))
                                  for c in self.columns_})
            self.init_used_ = "cca"
        self.task_ = AlignmentTask(self.columns_, self.model_, self.loss)
        result, best = train(self.model_, self.task_, splits["train"], splits["val"], epochs=self.epochs,
                             batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                             patience=self.patience, seed=self.seed, progress=self.progress, desc="aligning",
                             checkpoint_dir=run / "checkpoints" if run is not None else None, resume=resume,
                             on_epoch_end=self.log_.stage("aligner"))
        self.model_.load_state_dict(best)
        self.model_.eval()
        self.history_, self.best_epoch_ = result.history, result.best_epoch

    def _all_outputs(self, part: ArrayData, cells: dict | None = None) -> dict[str, dict]:
        """Every fitted candidate's embeddings of `part`, contrastive first (`spoken` scores too: the
        part's cells, `cells`, are what it hears and reads)."""
        outs = {CONTRASTIVE: predict_logits(self.model_, part)} if self.model_ is not None else {}
        outs |= {name: space_outputs(space, part) for name, space in self.spaces_.items()}
        if SPOKEN in outs:
            outs[SPOKEN] |= self.spaces_[SPOKEN].pair_scores(outs[SPOKEN], cells)
        return outs

    def _outputs(self, part: ArrayData, cells: dict | None = None) -> dict:
        """The chosen method's embeddings of `part` (`emb:<col>`, `mask:<col>`)."""
        if self.method_ == CONTRASTIVE:
            return predict_logits(self.model_, part)
        out = space_outputs(self.space_, part)
        return out | self.space_.pair_scores(out, cells) if self.method_ == SPOKEN else out

    def _score(self, splits: dict[str, ArrayData]) -> dict:
        from .evaluation import alignment_report

        metrics = alignment_report(self.columns_, self.method_,
                                   self._all_outputs(splits[self.eval_split_], self._cells[self.eval_split_]),
                                   splits[self.eval_split_])
        return metrics | {"selection": {"chosen": self.method_, "asked": self.method, "why": self.why_,
                                        "validation": self.validation_, "init": self.init_used_,
                                        "closed_form": self.closed_form_}}

    # ----------------------------------------------------------- embedding
    def embed(self, column: str, values: list) -> np.ndarray:
        """Embed cells of `column` (texts, or image/audio paths) into the shared space."""
        import pandas as pd

        self._check_fitted()
        if column not in self.columns_:
            raise PolymodalError(f"this aligner embeds {', '.join(self.columns_)}; not {column!r}")
        table = read_table(pd.DataFrame({column: values}))
        arrays = materialize(table, self.schema_, {column: self.encoders_[column]}, progress=False)
        return self.embed_inputs(column, arrays.inputs[column]).numpy()

    def embed_inputs(self, column: str, inputs) -> torch.Tensor:
        """The chosen method's embedding of model inputs (cached features `[n, D]`, or what a trainable
        encoder takes): the one door to the shared space for search, indexes, zero-shot and serving."""
        self._check_fitted()
        if self.method_ != CONTRASTIVE:
            return torch.from_numpy(self.space_.embed(column, torch.as_tensor(inputs).double().numpy()))
        with torch.inference_mode():
            return self.model_.embed(column, inputs)

    @property
    def dim_(self) -> int:
        """The size of the chosen method's space (ASIF: one dimension per anchor pair)."""
        return self.model_.dim if self.method_ == CONTRASTIVE else self.space_.out_dim

    def embed_table(self, data, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings [N, D] of a table's column and a presence mask [N] (cached features are reused)."""
        self._check_fitted()
        table = read_table(data)
        if column not in table.df.columns:
            raise PolymodalError(f"{table.source}: no column {column!r} to embed")
        arrays = materialize(table, self.schema_, {column: self.encoders_[column]}, progress=self.progress)
        present = arrays.masks[column]
        z = torch.zeros(len(table), self.dim_)
        rows = torch.nonzero(present).flatten()
        for i in range(0, len(rows), 1024):  # absent cells stay zero rows (the mask says which)
            z[rows[i:i + 1024]] = self.embed_inputs(column, take(arrays.inputs[column], rows[i:i + 1024]))
        return z.numpy(), present.numpy()

    def evaluate(self, data) -> dict:
        """Retrieval metrics on a table holding the aligned columns."""
        from .evaluation import alignment_report

        self._check_fitted()
        table = read_table(data)
        arrays = materialize(table, self.schema_, self.encoders_, progress=self.progress)
        arrays.targets = self._keys(table.df)
        cells = None
        if self.method_ == SPOKEN:
            missing = [c for c in self.columns_ if c not in table.df.columns]
            if missing:
                raise PolymodalError(f"{table.source}: no column {missing[0]!r} to evaluate the alignment on")
            cells = spoken_cells(table, self.space_)
        return alignment_report(self.columns_, self.method_, {self.method_: self._outputs(arrays, cells)}, arrays)

    # ------------------------------------------------------ run directory (see run_io.py)
    def _save_state(self, run: Path) -> None:
        run_io.save_state(self, run)

    def _load_state(self, run: Path) -> None:
        run_io.load_state(self, run)

    def _summary(self) -> dict:
        return {"eval_split": self.eval_split_, "estimate": self.estimate_, "splits": self.split_sizes_,
                "fit_seconds": round(self.fit_seconds_, 2),
                "train_seconds": round(self.train_seconds_, 2), **self.metrics_}

    def _write_report(self, run: Path) -> None:
        from .report import write_alignment_report

        write_alignment_report(self, run)

    def _card(self, summary: dict) -> list[tuple[str, str]]:
        return run_io.card_sections(self, summary)
