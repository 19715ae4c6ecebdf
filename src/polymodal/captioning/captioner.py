"""`Captioner`: text from an image (or an audio clip), trained on a table of files and captions.

    c = Captioner(input="image", target="caption", decoder="gru").fit("data/shapes", out="runs/cap")
    c.caption(["photo.png"], beam_size=3)   # ["a small red circle on the left"]
    c.evaluate("data/shapes")               # BLEU-1..4, CIDEr-D, exact match; nn_* for the baseline
    Captioner.load("runs/cap")          # or polymodal.load(...)

The input column's files go through a fixed pretrained encoder into the feature cache as a few
tokens each (image regions or audio frames); a decoder learns the captions with teacher forcing
through the shared training loop (checkpoints, `resume`, early stopping on validation BLEU-4).
Every evaluation also scores the nearest-neighbour baseline on the same inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ..data.splits import split_rows
from ..data.table import Table, read_table, resolve_path
from ..data.validate import is_missing, validate, write_skipped
from ..errors import PolymodalError
from ..runs.figures import where_from
from ..runs.files import write_json
from ..runs.job import Job
from ..schema import Column, Schema, detect_schema
from ..text.tokenizer import Tokenizer
from ..training.data import ArrayData
from ..training.loop import train
from ..training.settings import check_settings
from . import run_io
from .baseline import NearestCaption
from .decoder import decoder_names
from .evaluation import Items, group_items, score
from .inputs import ROLES, check_files, input_encoder, pooled, token_features, token_shape
from .model import CaptionModel
from .search import beam_search, greedy, strip
from .task import CaptionTask


class Captioner(Job):
    kind = "captioner"
    FILES = ("captioner.json", "tokenizer.json", "baseline.safetensors", "baseline.json")

    def __init__(self, input: str = "image", target: str = "caption", decoder: str = "gru", *,
                 encoder: str | None = None, hidden: int = 128, dropout: float = 0.1,
                 decoder_options: dict | None = None, tokenizer: str = "word", min_frequency: int = 1,
                 max_len: int = 32, epochs: int = 40, batch_size: int = 128, lr: float = 2e-3,
                 weight_decay: float = 0.01, label_smoothing: float = 0.1, patience: int = 8,
                 beam_size: int = 3, length_penalty: float = 0.6, seed: int = 0,
                 overrides: dict[str, str] | None = None, on_error: str = "error", threads: int = 1,
                 progress: bool = True):
        if decoder not in decoder_names():
            raise PolymodalError(f"unknown caption decoder {decoder!r}; valid: {', '.join(decoder_names())}")
        if max_len < 3:
            raise PolymodalError(f"max_len must leave room for <bos>, one word and <eos>; got {max_len}")
        self.input, self.target, self.decoder, self.encoder = input, target, decoder, encoder
        self.hidden, self.dropout, self.decoder_options = hidden, dropout, decoder_options  # as given
        self.tokenizer, self.min_frequency, self.max_len = tokenizer, min_frequency, max_len
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.label_smoothing, self.patience, self.beam_size = label_smoothing, patience, beam_size
        self.length_penalty, self.seed, self.overrides = length_penalty, seed, overrides
        self.on_error, self.threads, self.progress = on_error, threads, progress

    # ----------------------------------------------------------------- fit
    def fit(self, data, *, out: str | Path | None = None, resume: bool = False, overwrite: bool = False,
            tensorboard: bool = False) -> Captioner:
        """Fit on `data`; `out`, `resume`, `overwrite` as for `Predictor.fit`."""
        check_settings(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                       patience=self.patience, hidden=self.hidden, dropout=self.dropout,
                       label_smoothing=self.label_smoothing)
        out = self._start_fit(out, resume=resume, overwrite=overwrite, tensorboard=tensorboard)
        table = self._usable_rows(read_table(data), out=out, fitting=True)
        parts = split_rows(table.df, self.schema_, None, seed=self.seed)
        captions = table.df[self.target_].astype(str).tolist()
        torch.manual_seed(self.seed)
        self.tokenizer_ = Tokenizer(self.tokenizer, min_frequency=self.min_frequency).fit(
            [captions[i] for i in parts["train"]])
        self.encoder_ = input_encoder(self.input_role, self.encoder)
        self.token_shape_ = token_shape(self.encoder_)
        feats = token_features(self.encoder_, table.df[self.input_].tolist(), base_dir=table.base_dir,
                               progress=self.progress)
        ids, _ = self.tokenizer_.encode_batch(captions, max_len=self.max_len)
        self.gen_len_ = min(self.max_len - 1, int((ids[parts["train"]] != 0).sum(1).max()) + 1)
        arrays = ArrayData({"feats": feats, "ids": ids}, {"feats": torch.ones(len(ids), dtype=torch.bool)}, ids)
        splits = {k: arrays.subset(torch.as_tensor(v, dtype=torch.long)) for k, v in parts.items()}
        self._train(splits, out, resume)
        self.baseline_ = NearestCaption(pooled(splits["train"].inputs["feats"], self.token_shape_),
                                        [captions[i] for i in parts["train"]])
        self.split_sizes_ = {k: len(v) for k, v in parts.items()}
        self.answer_, self.choice_ = self._choose_answer(table, feats, parts["val"])
        self.eval_split_ = "test" if len(parts["test"]) else "val"
        self.estimate_ = where_from(self.eval_split_, len(parts[self.eval_split_]))
        rows = parts[self.eval_split_]
        part = Table(table.df.iloc[rows].reset_index(drop=True), table.base_dir, table.source)
        self.metrics_, self.examples_ = self._score(part, feats[rows])
        self._finish_fit(out)
        return self

    def _choose_answer(self, table: Table, feats: torch.Tensor, val_rows) -> tuple[str, dict]:
        """What `caption()` answers with: the decoder, or the nearest-neighbour baseline when that scores a
        higher BLEU-4 on the validation rows (a model worse than copying the nearest training caption is
        not shipped). Returns the answer and the two validation scores."""
        if not len(val_rows):
            return "model", {}
        part = Table(table.df.iloc[val_rows].reset_index(drop=True), table.base_dir, table.source)
        metrics, _ = self._score(part, feats[val_rows], examples=0)
        choice = {"split": "val", "rows": len(val_rows), "model_bleu_4": metrics["bleu_4"],
                  "nearest_bleu_4": metrics["nn_bleu_4"]}
        return ("nearest" if metrics["nn_bleu_4"] > metrics["bleu_4"] else "model"), choice

    def _usable_rows(self, table: Table, *, out=None, fitting: bool = False) -> Table:
        """Validated rows that hold both an input file and a caption (rows missing either are dropped)."""
        if len(table) == 0:
            raise PolymodalError(f"{table.source}: the table has no rows")
        if fitting:
            self.schema_ = detect_schema(table, overrides=self.overrides or {})
            self.input_, self.input_role, self.target_ = self._pick_columns(table)
        for column in (self.input_, self.target_):
            if column not in table.df.columns:
                raise PolymodalError(f"{table.source}: no column {column!r}; columns: {', '.join(table.df.columns)}")
        schema = Schema([Column(self.input_, self.input_role, "captioner input"),
                         Column(self.target_, "text", "captioner target")], table.source)
        report = validate(table, schema, on_error=self.on_error)
        if out is not None:
            write_skipped(report, Path(out) / "skipped.csv")
        df = report.table.df
        present = ~df[self.input_].map(_blank) & ~df[self.target_].map(_blank)
        if not present.any():
            raise PolymodalError(f"{table.source}: no row has both an {self.input_role} in {self.input_!r} and a "
                                 f"caption in {self.target_!r}")
        return Table(df[present].reset_index(drop=True), report.table.base_dir, table.source)

    def _pick_columns(self, table: Table) -> tuple[str, str, str]:
        roles = {c.name: c.role for c in self.schema_.columns}
        source = self._column(self.input, roles, "input")
        if roles[source] not in ROLES:
            raise PolymodalError(f"{table.source}: input column {source!r} holds {roles[source]}, not image or audio "
                                 f"files; name one with input=COL (--input COL)")
        target = self._column(self.target, roles, "target")
        if target == source:
            raise PolymodalError(f"the input and the target are both column {source!r}")
        return source, roles[source], target

    @staticmethod
    def _column(name: str, roles: dict[str, str], what: str) -> str:
        """`name` as a column, else, when it names a role ("image", "audio", "text"), the one column of that role."""
        if name in roles:
            return name
        matches = [c for c, r in roles.items() if r == name]
        if name in (*ROLES, "text") and len(matches) == 1:
            return matches[0]
        found = (f"several {name} columns ({', '.join(matches)})" if len(matches) > 1 else
                 f"no column {name!r} (columns: {', '.join(roles)})")
        raise PolymodalError(f"cannot choose the {what} column: {found}; name it with {what}=COL (--{what} COL)")

    def _train(self, splits: dict[str, ArrayData], out, resume: bool) -> None:
        torch.manual_seed(self.seed)
        self.model_ = CaptionModel(*self.token_shape_, self.tokenizer_.vocab_size, decoder=self.decoder,
                                   hidden=self.hidden, dropout=self.dropout, max_len=self.max_len,
                                   decoder_options=self.decoder_options or {})
        val = splits["val"] if len(splits["val"]) else None
        with torch_threads(self.threads):
            result, best = train(self.model_, CaptionTask(self.label_smoothing), splits["train"], val,
                                 epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                                 weight_decay=self.weight_decay, patience=self.patience, seed=self.seed,
                                 checkpoint_dir=Path(out) / "checkpoints" if out is not None else None,
                                 resume=resume, progress=self.progress, desc=f"captioning ({self.decoder})",
                                 on_epoch_end=self.log_.stage(self.decoder))
        self.model_.load_state_dict(best)
        self.model_.eval()
        self.history_, self.best_epoch_, self.train_seconds_ = result.history, result.best_epoch, result.seconds

    # ----------------------------------------------------------- captions
    @property
    def limit(self) -> int:
        """The most tokens a caption may have (`<eos>` included)."""
        return self.max_len - 1

    def caption(self, cells: list[str | Path], *, beam_size: int | None = None, max_len: int | None = None
                ) -> list[str]:
        """Captions of image/audio files. Each file must exist, be non-empty and decode."""
        self._check_fitted()
        self._search_options(beam_size, max_len)
        if isinstance(cells, str | Path):
            cells = [cells]
        if not cells:
            return []
        paths = check_files(list(cells), self.input_role)
        feats = token_features(self.encoder_, [str(p) for p in paths], progress=False)
        if getattr(self, "answer_", "model") == "nearest":  # the baseline beat the decoder on validation
            return self.nearest_captions(feats)
        return self.caption_features(feats, beam_size=beam_size, max_len=max_len)

    def _search_options(self, beam_size: int | None, max_len: int | None) -> tuple[int, int]:
        steps = self.gen_len_ if max_len is None else int(max_len)
        if not 1 <= steps <= self.limit:
            raise PolymodalError(f"max_len must be between 1 and this model's limit of {self.limit} tokens, "
                                 f"got {max_len}")
        beam = self.beam_size if beam_size is None else int(beam_size)
        if beam < 1:
            raise PolymodalError(f"beam size must be at least 1, got {beam_size}")
        return beam, steps

    def caption_features(self, feats: torch.Tensor, *, beam_size: int | None = None, max_len: int | None = None,
                         batch: int = 256) -> list[str]:
        """Captions of cached token features [N, tokens * dim] (beam 1 is greedy decoding)."""
        beam, steps = self._search_options(beam_size, max_len)
        self.model_.eval()
        device = next(self.model_.parameters()).device  # the training loop may have moved it to a GPU
        out: list[str] = []
        with torch.inference_mode(), torch_threads(self.threads):
            for start in range(0, len(feats), batch):
                memory = self.model_.memory(feats[start:start + batch].to(device))
                if beam == 1:
                    ids = [strip(row) for row in greedy(self.model_.decoder, memory, steps)]
                else:
                    ids = beam_search(self.model_.decoder, memory, beam_size=beam, max_len=steps,
                                      alpha=self.length_penalty)
                out += [self.tokenizer_.decode(row) for row in ids]
        return out

    def nearest_captions(self, feats: torch.Tensor) -> list[str]:
        """The nearest-neighbour baseline's captions for the same features."""
        return self.baseline_.predict(pooled(feats, self.token_shape_))

    # ----------------------------------------------------------- scoring
    def evaluate(self, data, *, drop: list[str] | None = None, beam_size: int | None = None) -> dict:
        """Metrics of the model and of the nearest-neighbour baseline on a table with the input and target
        columns (BLEU-1..4, CIDEr-D, exact match; caption attribute accuracy on `shapes` tables)."""
        self._check_fitted()
        if drop:
            raise PolymodalError("a captioner has a single input; there is no modality to drop")
        table = self._usable_rows(read_table(data))
        feats = token_features(self.encoder_, table.df[self.input_].tolist(), base_dir=table.base_dir,
                               progress=self.progress)
        return self._score(table, feats, beam_size=beam_size)[0]

    def _score(self, table: Table, feats: torch.Tensor, *, beam_size: int | None = None,
               examples: int = 12) -> tuple[dict, list[dict]]:
        paths = [str(resolve_path(str(v), table.base_dir)) for v in table.df[self.input_]]
        items = group_items(paths, table.df[self.target_].astype(str).tolist())
        chosen = feats[items.rows]
        model, nearest = self.caption_features(chosen, beam_size=beam_size), self.nearest_captions(chosen)
        metrics = score(items, model, nearest, table.df)
        metrics["beam_size"] = self.beam_size if beam_size is None else int(beam_size)
        metrics["answer"] = getattr(self, "answer_", "model")  # which of the two caption() returns
        return metrics, _examples(items, model, nearest, examples)

    def examples(self, data, n: int = 8, *, split: str | None = "test") -> list[dict]:
        """`n` inputs of a table (of its `split` rows when it has a split column) with their references,
        the model's caption and the baseline's: what the reports show."""
        self._check_fitted()
        table = read_table(data)
        df = table.df
        if split and "split" in df.columns and (df["split"].astype(str) == split).any():
            df = df[df["split"].astype(str) == split].reset_index(drop=True)
        part = self._usable_rows(Table(df, table.base_dir, table.source))
        df = part.df
        paths = [str(resolve_path(str(v), part.base_dir)) for v in df[self.input_]]
        items = group_items(paths, df[self.target_].astype(str).tolist())
        picked = _spread(len(items.rows), n)
        items = Items([items.rows[i] for i in picked], [items.paths[i] for i in picked],
                      [items.references[i] for i in picked])
        feats = token_features(self.encoder_, items.paths, progress=False)
        return _examples(items, self.caption_features(feats), self.nearest_captions(feats), n)

    # ------------------------------------------------------ run directory (see run_io.py)
    def _save_state(self, run: Path) -> None:
        run_io.save_state(self, run)

    def _load_state(self, run: Path) -> None:
        run_io.load_state(self, run)

    def _summary(self) -> dict:
        # "monitor" names the headline metric of each split's dict, as `polymodal runs compare` reads it
        return {"task": "caption", "monitor": "bleu_4", "best": self.decoder, "eval_split": self.eval_split_,
                "estimate": self.estimate_,
                "splits": self.split_sizes_, "fit_seconds": round(self.fit_seconds_, 2),
                "train_seconds": round(self.train_seconds_, 2), "best_epoch": self.best_epoch_,
                "answer": self.answer_, "choice": self.choice_, self.eval_split_: self.metrics_}

    def _write_report(self, run: Path) -> None:
        write_json(run / "examples.json", self.examples_)
        from .report import write_caption_report

        write_caption_report(self, run)

    def _card(self, summary: dict) -> list[tuple[str, str]]:
        return run_io.card_sections(self, summary)

    def _marker(self) -> dict:
        return {"task": "caption"}


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with `threads` torch threads (None: as they are). A decoder's per-token operations are small,
    and a team of threads costs more than it gives: a GRU training step of 64 captions took 0.33 s on
    one thread and 3.1 s on two on this project's busy 2-core machine."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _blank(value) -> bool:
    return is_missing(value) or (isinstance(value, str) and not value.strip())


def _spread(count: int, n: int) -> list[int]:
    """`n` positions spread evenly over `count` items (all of them when there are fewer)."""
    if count <= n:
        return list(range(count))
    return sorted(set(np.linspace(0, count - 1, n).round().astype(int).tolist()))


def _examples(items: Items, model: list[str], nearest: list[str], n: int) -> list[dict]:
    picked = _spread(len(items.paths), n)
    return [{"input": items.paths[i], "reference": " | ".join(items.references[i]), "model": model[i],
             "nearest_neighbour": nearest[i]} for i in picked]

