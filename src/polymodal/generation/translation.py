"""Unpaired image-to-image translation through the Generator (`fit --task image-to-image --model cyclegan --source COL
--target COL`, `Generator("image-to-image", "cyclegan", source=..., target=...)`): fit, translate, evaluate.

The table has two image columns. A row's `source` image, when it has one, belongs to domain A, its `target` image
to domain B; no row needs both, and when one has both their pairing is never used (cyclegan.py). The training rows of
each domain are the split's training rows that have an image there; the smaller domain is resampled (seeded) to the
larger's size, so every epoch shows each image of the larger one once.

Evaluation, on the held-out rows with a source image:
- cycle consistency: the mean absolute difference (pixels in [0, 1]) between a source image and its translation
  translated back, and the same from the target side;
- with categorical attribute columns that describe each row's image (the `shapes` recipe's shape, colour, size,
  position): a reader trained on the real images of both domains (readers.py, checked on held-out real images
  first) reads the translations. An attribute whose values never overlap between the two domains (colour, when one
  column holds red shapes and the other blue ones) is *style*: translated, it should read as one of the target
  domain's values (`style_changed_X`). Every other attribute is *content*: it should read as the source row's own
  (`content_kept_X`). The untranslated source images, read the same way, are the baseline (`identity_...`): content
  kept by doing nothing, style never changed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.splits import split_rows
from ..data.table import Table, read_table
from ..data.validate import validate, write_skipped
from ..encoders.materialize import cell_values
from ..errors import PolymodalError, TableError
from ..runs.figures import where_from
from ..schema import Column, Schema
from . import files
from .conditioning import Prompts
from .readers import MAX_CLASSES, READER_STEPS, TRUST, AttributeReader, scratch_folder, write_samples
from .trainer import GenData, train_generative

PREVIEW_IMAGES = 8
COMBINED = "image"  # the readers' column: each row's source or target image


def read_pair(g, data, out) -> tuple[Table, dict[str, np.ndarray]]:
    """The table with both image columns checked (every bad cell listed; an empty cell is that row's domain
    missing), and its splits."""
    table = read_table(data)
    missing = [c for c in (g.source, g.target_column) if c not in table.df.columns]
    if missing:
        raise TableError(f"{table.source}: no column(s) {', '.join(map(repr, missing))}; columns: "
                         f"{', '.join(map(str, table.df.columns))}")
    if g.source == g.target_column:
        raise PolymodalError(f"source and target are the same column ({g.source!r}); translation learns between two")
    columns = [Column(g.source, "image", "source"), Column(g.target_column, "image", "target")]
    if "split" in table.df.columns:
        columns.append(Column("split", "split", "split column"))
    schema = Schema(columns, table.source)
    report = validate(table, schema, on_error=g.on_error)
    if out is not None:
        write_skipped(report, Path(out) / "skipped.csv")
    return report.table, split_rows(report.table.df, schema, None, seed=g.seed)


def _present(table: Table, column: str, rows: np.ndarray) -> np.ndarray:
    values = cell_values(table, column, "image")
    return np.asarray([i for i in rows if values[i] is not None], dtype=np.int64)


def fit_translation(g, data, out, resume: bool) -> None:
    g.tokenizer_, g.prompts_ = "", Prompts(g.text_encoder, "")
    torch.manual_seed(g.seed)  # same seed, same initial weights; built first, so bad model options stop any work
    g.model_ = g._build()
    table, parts = read_pair(g, data, out)
    a_rows, b_rows = _present(table, g.source, parts["train"]), _present(table, g.target_column, parts["train"])
    for column, rows in ((g.source, a_rows), (g.target_column, b_rows)):
        if len(rows) < 2:
            raise PolymodalError(f"{table.source}: column {column!r} has {len(rows)} training image(s); translation "
                                 "needs at least 2 in each column")
    a, b = _load(g, table, g.source, a_rows), _load(g, table, g.target_column, b_rows)
    n = max(len(a), len(b))
    rng = np.random.default_rng([g.seed, 17])
    a, b = (x if len(x) == n else x[torch.as_tensor(rng.choice(len(x), n))] for x in (a, b))
    held = parts["test"] if len(parts["test"]) else parts["val"] if len(parts["val"]) else parts["train"]
    sources = cell_values(table, g.source, "image")
    g.preview_prompts_ = [str(sources[i]) for i in _present(table, g.source, held)[:PREVIEW_IMAGES]]
    g.previews_ = []
    g.epochs_ = g._epochs(n)
    result = train_generative(g.model_, GenData(b, a, torch.zeros(n, dtype=torch.long)), epochs=g.epochs_,
                              batch_size=g.batch_size, lr=g.lr or 2e-4, seed=g.seed,
                              checkpoint_dir=out / "checkpoints" if out is not None else None, resume=resume,
                              progress=g.progress, on_epoch=lambda epoch, row: g._end_epoch(epoch, row, out),
                              desc=f"{g.model} {g.task}")
    g.history_, g.train_seconds_ = result.history, result.seconds
    g.split_sizes_ = {k: len(v) for k, v in parts.items()}
    g.domain_sizes_ = {"source": len(a_rows), "target": len(b_rows)}
    g.metrics_ = _evaluate(g, table, parts) if g.evaluate_after_fit and len(g.preview_prompts_) else {}


def _load(g, table: Table, column: str, rows: np.ndarray) -> torch.Tensor:
    values = cell_values(table, column, "image")
    return torch.stack([g._load_one(values[i]) for i in rows]) if len(rows) else torch.zeros(0, *g.medium_.shape)


def translate(g, images, *, back: bool = False, batch: int = 256) -> torch.Tensor:
    """Image files (or `[N, 3, H, W]` in [0, 1]) from the source column's look to the target's (`back`: the other
    way), as `[N, 3, H, W]` in [0, 1]."""
    g._check_fitted()
    if isinstance(images, torch.Tensor):
        x = images.mul(2).sub(1)
    else:
        paths = [images] if isinstance(images, str | Path) else list(images)
        if not paths:
            raise PolymodalError("no images given: pass at least one file")
        x = torch.stack([g._load_one(p) for p in paths])
    step = g.model_.back if back else g.model_.sample
    return torch.cat([g.medium_.output(step(x[i:i + batch])) for i in range(0, len(x), batch)])


def preview(g) -> bytes:
    """Each preview image, its translation and the translation back, side by side, one row each."""
    x = torch.stack([g._load_one(p) for p in g.preview_prompts_])
    fake = g.model_.sample(x)
    rows = torch.stack([x, fake, g.model_.back(fake)], 1).flatten(0, 1)
    return files.png_grid(g.medium_.output(rows), 3)


def attribute_columns(table: Table, exclude: list[str]) -> list[str]:
    """Columns that look like categorical attributes of the images: 2 to 20 short values, present in every row."""
    out = []
    for column in table.df.columns:
        values = table.df[column]
        if column in exclude or values.isna().any():
            continue
        text = values.astype(str)
        if 2 <= text.nunique() <= MAX_CLASSES and text.str.len().max() <= 32:
            out.append(column)
    return out


def evaluate_translation(g, data, *, attributes: list[str] | None = None, reader_steps: int = READER_STEPS,
                         max_rows: int | None = None) -> dict:
    """Cycle consistency and attribute readings of the held-out source images' translations (see the module)."""
    table, parts = read_pair(g, data, None)
    return _evaluate(g, table, parts, attributes=attributes, reader_steps=reader_steps, max_rows=max_rows)


def _evaluate(g, table: Table, parts: dict[str, np.ndarray], *, attributes: list[str] | None = None,
              reader_steps: int = READER_STEPS, max_rows: int | None = None) -> dict:
    split = "test" if len(parts["test"]) else "val" if len(parts["val"]) else "train"
    rows = _present(table, g.source, parts[split])[:max_rows]
    b_rows = _present(table, g.target_column, parts[split])[:max_rows]
    if not len(rows):
        raise PolymodalError(f"{table.source}: no {split} row has a {g.source!r} image to translate")
    a = _load(g, table, g.source, rows)
    fake = g.model_.sample(a)
    metrics: dict = {"eval_split": split, "eval_rows": len(rows), "notes": [],
                     "estimate": where_from(split, len(rows), chose=""),
                     "cycle_l1_source": float((g.model_.back(fake) - a).abs().mean() / 2)}
    if len(b_rows):
        b = _load(g, table, g.target_column, b_rows)
        metrics["cycle_l1_target"] = float((g.model_.sample(g.model_.back(b)) - b).abs().mean() / 2)
    names = attributes or g.attributes or attribute_columns(table, [g.source, g.target_column, "split"])
    if names:
        metrics.update(_attributes(g, table, parts, rows, g.medium_.output(fake), names, metrics["notes"],
                                   reader_steps))
    return metrics


def _attributes(g, table: Table, parts, rows: np.ndarray, translated: torch.Tensor, names: list[str],
                notes: list[str], steps: int) -> dict:
    from ..paths import home

    sources, targets = cell_values(table, g.source, "image"), cell_values(table, g.target_column, "image")
    # one image per row for the reader: the target image where the row has one, else its source image
    combined = table.df[names].astype(str).reset_index(drop=True)
    combined.insert(0, COMBINED, [str(t or s or "") for s, t in zip(sources, targets, strict=True)])
    has = combined[COMBINED] != ""
    combined_table = Table(combined, table.base_dir, table.source)
    where = {k: np.asarray([i for i in v if has.iloc[i]], dtype=np.int64) for k, v in parts.items()}
    shim = _ReaderView(g)
    reader = AttributeReader.train(shim, combined_table, where, names, cache=home() / "evaluators", steps=steps)
    held = where["test"] if len(where["test"]) else where["val"]
    real = reader.accuracy([combined[COMBINED].iloc[i] for i in held],
                           combined.iloc[held].reset_index(drop=True))
    in_a = [i for i, s in enumerate(sources) if s is not None]
    in_b = [i for i, t in enumerate(targets) if t is not None]
    truth = combined.iloc[rows].reset_index(drop=True)[names].copy()
    style = {}
    for name in names:
        values_a, values_b = set(combined[name].iloc[in_a]), set(combined[name].iloc[in_b])
        if values_a.isdisjoint(values_b):  # the domains never share it: the look translation should change
            style[name] = sorted(values_b)
    out = {}
    with scratch_folder() as tmp:
        paths = write_samples(g, translated, Path(tmp) / "translated")
        read = reader.read(paths)
        untouched = reader.read([sources[i] for i in rows])
    for name in names:
        out[f"reader_real_accuracy_{name}"] = real[name]
        if real[name] < TRUST:
            notes.append(f"Attribute `{name}` is not scored: the reader reads it from only {real[name]:.0%} of the "
                         f"held-out real images (it must reach {TRUST:.0%}).")
            continue
        key = f"style_changed_{name}" if name in style else f"content_kept_{name}"
        for prefix, judged in (("", read), ("identity_", untouched)):
            values = judged[name].astype(str).to_numpy()
            right = np.isin(values, style[name]) if name in style else values == truth[name].to_numpy()
            out[prefix + key] = float(right.mean())
    if style:
        notes.append("Style attributes (their values never overlap between the two columns): "
                     + ", ".join(f"`{k}` (target: {' or '.join(v)})" for k, v in style.items())
                     + "; every other attribute is content, to be kept. `identity_*`: the source images read "
                     "untranslated, the baseline.")
    return out


class _ReaderView:
    """The generator as the attribute reader sees it: images at its size, in the combined column."""

    def __init__(self, g):
        self.output_role, self.target_column, self.image_size = "image", COMBINED, g.image_size
        self.medium_, self.to_bytes, self.sample_rate = g.medium_, g.to_bytes, None


def summary_rows(metrics: dict) -> pd.DataFrame:
    """The attribute table: per attribute, translated against untranslated."""
    rows = []
    for key, value in metrics.items():
        for kind in ("content_kept_", "style_changed_"):
            if key.startswith(kind):
                name = key[len(kind):]
                rows.append({"attribute": name, "judged": kind.rstrip("_").replace("_", " "),
                             "translated": value, "untranslated (baseline)": metrics.get(f"identity_{key}"),
                             "reader on real images": metrics.get(f"reader_real_accuracy_{name}")})
    return pd.DataFrame(rows)
