"""`Aligner`: a shared embedding space for two or three columns of a table (image-text,
audio-text, audio-image, or all three), learned on top of frozen unimodal encoders.

    a = Aligner(["image", "caption"]).fit("pairs.parquet", out="runs/align")
    a.evaluate(test_table)              # Recall@1/5/10 both ways, against ASIF and chance
    a.embed("caption", ["a red apple"]) # L2-normalised vectors in the shared space
    Aligner.load("runs/align")          # or polymodal.load(...)
"""

from __future__ import annotations

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
from ..training.data import ArrayData
from ..training.loop import predict_logits, train
from ..training.settings import check_settings
from . import run_io
from .model import AlignmentModel
from .task import AlignmentTask

ALIGNABLE = ("image", "audio", "text", "video")
LOSSES = ("infonce", "siglip")


class Aligner(Job):
    kind = "aligner"
    FILES = ("schema.json", "encoders.json", "aligner.json")

    def __init__(self, columns: list[str] | None = None, *, encoders: str | dict | None = None,
                 loss: str = "infonce", dim: int = 256, hidden: int = 512, dropout: float = 0.1,
                 lock: list[str] | None = None, temperature: float = 0.07, epochs: int = 30, batch_size: int = 256,
                 lr: float = 1e-3, weight_decay: float = 0.05, patience: int = 6, seed: int = 0,
                 key: str | None = None, overrides: dict[str, str] | None = None, on_error: str = "error",
                 pretrained: bool = True, encoder_mode: str | None = None, progress: bool = True):
        if loss not in LOSSES:
            raise PolymodalError(f"unknown alignment loss {loss!r}; valid: {', '.join(LOSSES)}")
        # stored as given (scikit-learn's rule, so clone() works)
        self.columns, self.encoders, self.loss = columns, encoders, loss
        self.dim, self.hidden, self.dropout, self.lock = dim, hidden, dropout, lock
        self.temperature, self.epochs, self.batch_size, self.lr = temperature, epochs, batch_size, lr
        self.weight_decay, self.patience, self.seed, self.key = weight_decay, patience, seed, key
        self.overrides, self.on_error, self.pretrained = overrides, on_error, pretrained
        self.encoder_mode, self.progress = encoder_mode, progress

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
        for column, encoder in self.encoders_.items():
            encoder.prepare(table.df[column].iloc[parts["train"]].dropna().tolist())
        arrays = materialize(table, self.schema_, self.encoders_, progress=self.progress)
        arrays.targets = self._keys(table.df)
        splits = {k: arrays.subset(torch.as_tensor(v, dtype=torch.long)) for k, v in parts.items()}
        self._train(splits, run, resume)
        self.split_sizes_ = {k: len(v) for k, v in parts.items()}
        self.eval_split_ = "test" if len(parts["test"]) else "val"
        self.estimate_ = where_from(self.eval_split_, len(parts[self.eval_split_]))
        self.metrics_ = self._score(splits)
        self._finish_fit(run)
        return self

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

    def _train(self, splits: dict[str, ArrayData], run: Path | None, resume: bool) -> None:
        in_dims = {c: e.out_dim for c, e in self.encoders_.items()}
        trainable = {c: e for c, e in self.encoders_.items() if not is_cached(e)}
        torch.manual_seed(self.seed)
        self.model_ = AlignmentModel(in_dims, trainable, dim=self.dim, hidden=self.hidden, dropout=self.dropout,
                                     locked=self.lock or [], temperature=self.temperature, loss=self.loss)
        self.task_ = AlignmentTask(self.columns_, self.model_, self.loss)
        result, best = train(self.model_, self.task_, splits["train"], splits["val"], epochs=self.epochs,
                             batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                             patience=self.patience, seed=self.seed, progress=self.progress, desc="aligning",
                             checkpoint_dir=run / "checkpoints" if run is not None else None, resume=resume,
                             on_epoch_end=self.log_.stage("aligner"))
        self.model_.load_state_dict(best)
        self.model_.eval()
        self.history_, self.best_epoch_, self.train_seconds_ = result.history, result.best_epoch, result.seconds

    def _score(self, splits: dict[str, ArrayData]) -> dict:
        from .evaluation import alignment_report

        part = splits[self.eval_split_]
        out = predict_logits(self.model_, part)
        return alignment_report(self, out, part, splits["train"])

    # ----------------------------------------------------------- embedding
    def embed(self, column: str, values: list) -> np.ndarray:
        """Embed cells of `column` (texts, or image/audio paths) into the shared space."""
        import pandas as pd

        self._check_fitted()
        if column not in self.columns_:
            raise PolymodalError(f"this aligner embeds {', '.join(self.columns_)}; not {column!r}")
        table = read_table(pd.DataFrame({column: values}))
        arrays = materialize(table, self.schema_, {column: self.encoders_[column]}, progress=False)
        with torch.inference_mode():
            z = self.model_.embed(column, arrays.inputs[column])
        return z.numpy()

    def embed_table(self, data, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings [N, D] of a table's column and a presence mask [N] (cached features are reused)."""
        self._check_fitted()
        table = read_table(data)
        if column not in table.df.columns:
            raise PolymodalError(f"{table.source}: no column {column!r} to embed")
        arrays = materialize(table, self.schema_, {column: self.encoders_[column]}, progress=self.progress)
        with torch.inference_mode():
            z = torch.cat([self.model_.embed(column, arrays.inputs[column][i:i + 1024])
                           for i in range(0, len(table), 1024)]) if len(table) else torch.empty(0, self.model_.dim)
        return z.numpy(), arrays.masks[column].numpy()

    def evaluate(self, data) -> dict:
        """Retrieval metrics on a table holding the aligned columns."""
        from .evaluation import alignment_report

        self._check_fitted()
        table = read_table(data)
        arrays = materialize(table, self.schema_, self.encoders_, progress=self.progress)
        arrays.targets = self._keys(table.df)
        return alignment_report(self, predict_logits(self.model_, arrays), arrays, None)

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
