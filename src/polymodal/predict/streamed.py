"""`fit` on a table larger than memory: a Parquet file or folder read batch by batch, features memory-mapped.

`Predictor(stream=True)` (`fit --stream`), or on its own for a Parquet table of `STREAM_ABOVE` rows or more,
replaces the in-memory read, split and feature arrays of a fit by two passes over the table:

1. **Rows.** The schema is detected on the first `SAMPLE_ROWS` rows. Every batch is validated
   (data/validate.py): with `on_error="skip"` its bad rows are appended to `skipped.csv` under their own row
   numbers; with "error" every problem of the whole table is listed at the end of the pass. Rows without a label
   are set aside. What stays in memory is a few numbers a row: the row number, the label, the split, a fingerprint.
2. **Features.** Each input column's encoder inputs (a frozen encoder's cached features, or the tabular group's
   vector) are written, batch by batch, as row-aligned Arrow parts under `RUN/features/`, the layout of
   `polymodal features extract` (encoders/sharded.py), and read back memory-mapped (`MappedData`).

The split is the table's split column, else a stable hash of the id column, else of the row number
(data/stream.py `hash_split`, 70/15/15), the same in every process and however the table is batched.
Neural candidates train on the mapped rows, so peak memory follows the batch, not the table.

What is bounded, and said in the report's notes:
- classical candidates (linear probe, LightGBM, kNN) fit on at most `CLASSICAL_ROWS` training rows (seeded);
  every candidate is then scored on the whole validation and test splits;
- robustness to a missing modality and the "which modality mattered" summary use at most `EVAL_ROWS` rows of
  the evaluation split.

Not available in a streamed fit (a clear error says so): cross-validated estimates, k-fold bagging, SMOTE,
self-training on unlabeled rows, distillation, cached augmentation views, and encoders that train on raw
inputs (pixels, tokens); they need the whole table in memory. Fit on a sample with `stream=False` for them.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.splits import VAL_NAMES
from ..data.stream import StreamTable, hash_split, parquet_path
from ..data.table import Table
from ..data.validate import validate
from ..errors import PolymodalError, ValidationError
from ..schema import detect_schema, group_tabular, with_group_cells
from ..training.data import ArrayData
from ..training.mapped import MappedData

logger = logging.getLogger("polymodal")

STREAM_ABOVE = 1_000_000  # rows of a Parquet table from which `fit` streams on its own (POLYMODAL_STREAM_ABOVE)
SAMPLE_ROWS = 50_000  # rows the schema is detected on and the encoders are prepared from
BATCH_ROWS = 65_536  # rows per batch of either pass
CLASSICAL_ROWS = 100_000  # training (and validation) rows the classical candidates are fitted (and tuned) on
EVAL_ROWS = 50_000  # evaluation rows of the robustness table and the modality summary
PARTS = ("train", "val", "test")


def wants_stream(stream: bool | None, data) -> bool:
    """Whether a fit on `data` streams: `stream` True or False, or None for a Parquet table of at least
    STREAM_ABOVE rows."""
    if stream is False:
        return False
    path = parquet_path(data)
    if stream is True:
        if path is None:
            raise PolymodalError(f"{data if isinstance(data, str | Path) else 'a DataFrame'}: a streamed fit reads a "
                                 "Parquet file or a folder of them; convert the table first: polymodal table convert "
                                 "TABLE.csv TABLE.parquet")
        return True
    if path is None:
        return False
    threshold = int(os.environ.get("POLYMODAL_STREAM_ABOVE", STREAM_ABOVE))
    return StreamTable(path).dataset.count_rows() >= threshold


def check_streamable(p, tuning_data) -> None:
    """The settings a streamed fit cannot honour, refused before any work."""
    refused = {"estimate='cv'": p.estimate == "cv", "bag_folds": bool(p.bag_folds),
               "imbalance='smote'": p.imbalance == "smote", "unlabeled='use'": p.unlabeled == "use",
               "teacher (distillation)": p.teacher is not None, "augment": bool(p.augment),
               "tuning_data": tuning_data is not None, "pretrain": bool(getattr(p, "pretrain", False))}
    named = [k for k, v in refused.items() if v]
    if named:
        raise PolymodalError(f"a streamed fit (a table larger than memory) does not support {', '.join(named)}: each "
                             "needs the whole table in memory. Leave it out, or fit on a sample with stream=False "
                             "(--no-stream)")


@dataclass
class Rows:
    """What pass 1 keeps: per kept row, its number in the table, labels, split and fingerprint."""

    rows: np.ndarray
    labels: pd.DataFrame
    split: np.ndarray
    fingerprints: np.ndarray
    total: int
    skipped: int
    unlabeled: int


def fit_streamed(p, data, run: Path | None, resume: bool) -> dict[str, MappedData]:
    """Passes 1 and 2 for predictor `p` (see the module's doc): sets its schema, task, encoders and figures' origin
    as a fit in memory would, and returns the train/val/test splits over the memory-mapped features."""
    from ..encoders.materialize import choose_encoders, parse_encoder_spec
    from ..runs.figures import where_from
    from ..tasks import make_task
    from .seen import fingerprint_columns

    stream = StreamTable(parquet_path(data), batch_rows=BATCH_ROWS)
    sample = stream.sample(SAMPLE_ROWS)
    p.schema_ = split_schema = detect_schema(sample, label=p.labels, overrides=p.overrides or {})
    missing = [c for c in p.labels if c not in stream.columns]
    if missing:
        raise PolymodalError(f"{stream.path}: no label column(s) {', '.join(missing)}; columns: "
                             f"{', '.join(stream.columns)}")
    if p.tabular == "group":  # one column too: the group's vector is a fixed input, which the parts can hold
        inputs = [c.name for c in p.schema_.columns]
        p.schema_ = group_tabular(p.schema_, inputs, minimum=1)
        split_schema = group_tabular(split_schema, inputs, minimum=1)
    p.columns_ = list(p.schema_.modalities)
    if not p.columns_:
        raise PolymodalError(f"{stream.path}: no input columns besides the label(s)")
    p.seen_columns_ = fingerprint_columns(p.schema_, p.columns_)
    kept = _pass_rows(p, stream, split_schema, run)
    p.skipped_ = pd.DataFrame(columns=["row", "column", "reason", "value"])  # they are in skipped.csv, not memory
    p.unlabeled_ = {"policy": p.unlabeled, "rows": kept.unlabeled}
    p.unlabeled_table_, p.unlabeled_arrays_ = Table(sample.df.iloc[:0], stream.base_dir, str(stream.path)), None
    if not len(kept.rows):
        raise PolymodalError(f"{stream.path}: no row is left to fit ({kept.skipped} skipped, {kept.unlabeled} "
                             "without a label)")
    train = kept.split == PARTS.index("train")
    if not train.any():
        raise PolymodalError(f"{stream.path}: no training rows (the split column has no 'train' rows)")
    if not (kept.split == PARTS.index("val")).any():
        raise PolymodalError(f"{stream.path}: no validation rows (the split column has no 'val' rows)")
    p.task_ = make_task(kept.labels[train], p.labels, kind=p.task, imbalance=p.imbalance, weights=p._label_weights())
    torch.manual_seed(p.seed)
    p.encoders_ = choose_encoders(p.schema_, p.columns_, parse_encoder_spec(p.encoders), pretrained=p.pretrained,
                                  mode=p.encoder_mode)
    p.augmenter_ = None
    # prepared (standardisation, vocabularies) on the sample's kept training rows, as a fit in memory would be
    prepared = _with_cells(p, Table(sample.df, stream.base_dir, str(stream.path))).df
    in_sample = kept.rows < len(prepared)
    rows = kept.rows[in_sample][kept.split[in_sample] == PARTS.index("train")]
    for column, encoder in p.encoders_.items():
        if column in prepared.columns:
            encoder.prepare(prepared[column].iloc[rows].dropna().tolist())
    folder = (run / "features") if run is not None else Path(_scratch(p))
    _pass_features(p, stream, kept, folder, resume)
    from ..tasks import encode_targets

    targets = _scatter(encode_targets(p.task_, kept.labels), kept.rows, kept.total)
    data = MappedData.from_extraction(folder, p.columns_, targets)
    parts = {k: kept.rows[kept.split == i] for i, k in enumerate(PARTS)}
    p.split_sizes_ = {k: len(v) for k, v in parts.items()}
    kind = "test" if len(parts["test"]) else "val"
    p.estimate_kind_ = kind
    p.estimate_ = where_from(kind, len(parts[kind]), chose="selection (early stopping, choosing the fusion)",
                             folds=p.folds, metric=p.task_.monitor)
    used = np.isin(kept.split, (PARTS.index("train"), PARTS.index("val")))
    p.seen_ = np.unique(kept.fingerprints[used])
    p.streamed_ = {"rows": kept.total, "kept": len(kept.rows), "skipped": kept.skipped, "unlabeled": kept.unlabeled,
                   "features": str(folder), "classical_rows": CLASSICAL_ROWS, "eval_rows": EVAL_ROWS,
                   "split": f"the table's split column {split_schema.names('split')[0]!r}"
                   if split_schema.names("split")
                   else f"a hash of {'the id column' if p.schema_.names('id') else 'the row number'}"}
    logger.info("streamed: %d rows, %d kept (%s)", kept.total, len(kept.rows),
                ", ".join(f"{k} {len(v)}" for k, v in parts.items()))
    return {k: data.subset(torch.as_tensor(v)) for k, v in parts.items()}


def _with_cells(p, table: Table) -> Table:
    return with_group_cells(table, p.schema_) if p.tabular == "group" else table


def _split_of(p, df: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Each row's part as an int8 code (PARTS: train 0, val 1, test 2; -1 for another value of a split column, a
    row in no part), a byte a row rather than a string."""
    given = [c for c in p.schema_.names("split") if c in df.columns]
    if given:
        names = df[given[0]].astype(str).str.strip().str.lower()
        names = names.where(~names.isin(VAL_NAMES), "val").to_numpy()
    else:
        ids = p.schema_.names("id")
        names = hash_split(df[ids[0]].to_numpy() if ids else rows, seed=p.seed)
    codes = np.full(len(names), -1, np.int8)
    for code, part in enumerate(PARTS):
        codes[names == part] = code
    return codes


def _pass_rows(p, stream: StreamTable, schema, run: Path | None) -> Rows:
    """Pass 1: every batch validated; the kept rows' numbers, labels, splits and fingerprints."""
    from .seen import fingerprints
    from .unlabeled import set_aside

    skipped_file = run / "skipped.csv" if run is not None else None
    if skipped_file is not None:
        skipped_file.unlink(missing_ok=True)
    import pyarrow as pa

    rows, labels, splits, prints, problems = [], [], [], [], []
    types = {c: stream.dataset.schema.field(c).type for c in p.labels}  # by the file's type, not a batch's
    numbers = {c: np.int64 if pa.types.is_integer(t) else np.float64 for c, t in types.items()
               if pa.types.is_integer(t) or pa.types.is_floating(t)}
    total = skipped = unlabeled = 0
    bar = _bar(len(stream), "checking rows", p.progress)
    for batch in stream.batches():
        offset, n = int(batch.df.index[0]), len(batch.df)
        local = _with_cells(p, Table(batch.df.reset_index(drop=True), batch.base_dir, batch.source))
        local.df["__row"] = np.arange(offset, offset + n)  # carried through validation's row drops
        report = validate(local, schema, on_error="skip", require_all=p.require_all, allow_unlabeled=True)
        if report.problems:
            moved = [replace(q, row=q.row + offset) for q in report.problems]
            if p.on_error == "error":
                problems += moved
            elif skipped_file is not None:
                report.skipped.assign(row=report.skipped["row"] + offset).to_csv(
                    skipped_file, mode="a", header=not skipped_file.exists(), index=False)  # batch by batch
        labelled, aside = set_aside(report.table, p.labels)
        df = labelled.df
        kept_rows = df["__row"].to_numpy(np.int64)
        rows.append(kept_rows)
        # a number stays a number (regression); a class is a code, not a string object a row
        labels.append({c: df[c].to_numpy(numbers[c]) if c in numbers else pd.Categorical(df[c].astype(object))
                       for c in p.labels})  # kept rows have their labels: an integer column stays integer
        splits.append(_split_of(p, df, kept_rows))
        prints.append(fingerprints(labelled, p.schema_, p.seen_columns_))
        total += n
        skipped += n - len(report.table.df)
        unlabeled += len(aside.df)
        bar.update(n)
    bar.close()
    if problems:
        raise ValidationError(str(stream.path), problems)
    from pandas.api.types import union_categoricals

    frame = pd.DataFrame({c: np.concatenate([b[c] for b in labels]) if c in numbers
                          else union_categoricals([b[c] for b in labels]) for c in p.labels})
    return Rows(np.concatenate(rows), frame, np.concatenate(splits),
                np.concatenate(prints), total, skipped, unlabeled)


def _pass_features(p, stream: StreamTable, kept: Rows, folder: Path, resume: bool) -> None:
    """Pass 2: each column's encoder inputs of the kept rows (others absent), as row-aligned Arrow parts."""
    from ..encoders.materialize import materialize
    from ..encoders.sharded import MANIFEST, PartWriter, Shard, finished_parts, write_extraction
    from ..runs.files import read_json

    manifest = {"table": str(stream.path.resolve()), "rows": kept.total, "shards": 1,
                "columns": {c: {"encoder": e.id, "dim": e.out_dim} for c, e in sorted(p.encoders_.items())}}
    if resume and (folder / MANIFEST).exists() and read_json(folder / MANIFEST) == manifest:
        try:
            for column in p.columns_:
                finished_parts(folder, column)
            logger.info("streamed: the features of an earlier try are complete in %s", folder)
            return
        except PolymodalError:
            pass
    if folder.exists():
        shutil.rmtree(folder)
    shard, started = Shard(), time.perf_counter()
    keep = np.zeros(kept.total, bool)
    keep[kept.rows] = True
    writers = {c: PartWriter(folder / c / f"part-{shard.name}.arrow") for c in p.columns_}
    bar = _bar(kept.total, "features", p.progress)
    try:
        for batch in stream.batches():
            offset, n = int(batch.df.index[0]), len(batch.df)
            local = _with_cells(p, Table(batch.df.reset_index(drop=True), batch.base_dir, batch.source))
            drop = ~keep[offset:offset + n]
            for column in p.columns_:  # skipped and unlabeled rows are never decoded: absent
                if column in local.df.columns and drop.any():
                    local.df[column] = local.df[column].astype(object).where(~drop, None)
            arrays = materialize(local, p.schema_, p.encoders_, progress=False)
            for column in p.columns_:
                writers[column].write(range(offset, offset + n), arrays.masks[column].numpy(),
                                      _matrix(column, p.encoders_[column], arrays.inputs[column]))
            bar.update(n)
        for writer in writers.values():
            writer.commit()
    finally:
        bar.close()
        for writer in writers.values():
            writer.abort()
    write_extraction(folder, manifest, shard, kept.total, time.perf_counter() - started)


def _matrix(column: str, encoder, values) -> np.ndarray:
    """A column's encoder inputs as float32 `[n, D]`: cached features or a tabular vector; others refused."""
    if isinstance(values, torch.Tensor) and values.dim() in (1, 2) and values.is_floating_point():
        return values.reshape(len(values), -1).numpy().astype(np.float32, copy=False)  # a number: [n, 1]
    raise PolymodalError(f"column {column!r}: its encoder {encoder.name!r} trains on raw inputs, which a streamed fit "
                         "cannot keep on disk; choose a frozen pretrained encoder for it (--encoders), group it with "
                         "--tabular group (numbers and categories), or fit on a sample with --no-stream")


def _scatter(targets, rows: np.ndarray, total: int):
    """Targets of the kept rows, placed at their row numbers in a table of `total` rows (others zero, never read)."""
    if isinstance(targets, dict):
        return {k: _scatter(v, rows, total) for k, v in targets.items()}
    out = torch.zeros((total, *targets.shape[1:]), dtype=targets.dtype)
    out[torch.as_tensor(rows)] = targets
    return out


def bounded(data, rows: int, seed: int):
    """`data` in memory, at most `rows` of its rows (seeded, in their order): what the classical candidates and the
    evaluation summaries read. An `ArrayData` is returned as it is."""
    if not isinstance(data, MappedData):
        return data
    pick = torch.arange(len(data))
    if len(data) > rows:
        pick = torch.sort(torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:rows]).values
    inputs, masks, targets = data.take(pick)
    return ArrayData(inputs, masks, targets)


def _scratch(p) -> str:
    import tempfile

    p.scratch_ = tempfile.mkdtemp(prefix="polymodal-streamed-")
    return p.scratch_


def _bar(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="row", unit_scale=True, leave=False,
                disable=not progress or not sys.stderr.isatty())
