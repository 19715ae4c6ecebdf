"""Attribute readers: classifiers trained on *real* media that read categorical attributes
(shape, colour, size, position, motion, ...) back from generated samples.

A reader is a polymodal `Predictor` (multi-task classification, one small scratch CNN over
the medium, no other input) trained on the real training rows plus perturbed copies of them
(perturb.py: brightness, contrast, noise, blur; gain and noise for sounds) and early-stopped on the
real validation rows and their copies. Before it judges anything generated it is checked on the
held-out real rows, as they are and perturbed: only attributes it reads with at least `TRUST`
accuracy in both are used, so a low score on generated samples means the samples are wrong, not
the reader. Generated samples are read
from the files they are written to (PNG, WAV through Griffin-Lim, GIF): the same path as a
user's files.

Readers are cached by the table's content (paths, sizes and modification times of the media,
and the attribute values) under `$POLYMODAL_HOME/evaluators`, so each is trained once per table.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.table import Table
from ..encoders.materialize import cell_values
from ..errors import PolymodalError
from ..runs.files import atomic_write
from . import files

TRUST = 0.9
READER_STEPS = 1000  # training batches of a reader, at most (early stopping may end it sooner)
MAX_CLASSES = 20
STATED = 0.9
READER_VERSION = 5  # part of the cache key: bump when training changes
PERTURBED_COPIES = 2
MIN_EPOCHS = 3  # a reader sees every training file at least this often, however few `steps` it is given


def reader_encoder(g) -> str:
    """A scratch encoder at the generator's own resolution (real media are resized to it)."""
    if g.output_role == "image":
        return f"cnn:image_size={g.image_size}:width=16:out_dim=64"
    if g.output_role == "video":
        return f"video-cnn:frames={g.frames}:frame_size={g.image_size}:width=16:out_dim=64"
    mels = "" if g.n_mels == 64 else f":n_mels={g.n_mels}"  # 64 is audio-cnn's default (and the reader's key)
    return f"audio-cnn:seconds={float(g.seconds)}{mels}:width=16:out_dim=64"


def default_attributes(table: Table, prompt: str, exclude: list[str]) -> list[str]:
    """Columns that look like categorical attributes *the prompt states*: few distinct short values,
    present in every row, and the row's value written as a word in at least 90% of its prompts
    ("red" in "a small red circle"). An attribute the prompt leaves open (a motion that a still
    caption never mentions) cannot be asked of a generated sample."""
    words = [set(re.findall(r"[\w-]+", str(t).lower())) for t in table.df[prompt]]
    out = []
    for column in table.df.columns:
        values = table.df[column]
        if column in exclude or column in (prompt, "split") or values.isna().any():
            continue
        text = values.astype(str).str.lower()
        if not 2 <= text.nunique() <= MAX_CLASSES or text.str.len().max() > 32:
            continue
        stated = np.mean([v in w for v, w in zip(text, words, strict=True)])
        if stated >= STATED:
            out.append(column)
    return out


def _key(table: Table, column: str, rows: np.ndarray, attributes: list[str], encoder: str, role: str) -> str:
    h = hashlib.sha1(json.dumps([READER_VERSION, column, attributes, encoder]).encode())
    for path in cell_values(table, column, role):
        st = Path(path).stat()
        h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(table.df[attributes].astype(str).to_csv(index=False).encode())
    h.update(np.asarray(rows).tobytes())
    return h.hexdigest()[:16]


class AttributeReader:
    def __init__(self, predictor, attributes: list[str], column: str, role: str):
        self.predictor, self.attributes, self.column, self.role = predictor, attributes, column, role

    @classmethod
    def train(cls, g, table: Table, parts: dict[str, np.ndarray], attributes: list[str], *,
              cache: Path | None = None, steps: int = READER_STEPS) -> AttributeReader:
        """Train on the real train rows and `PERTURBED_COPIES` perturbed copies of each (perturb.py) for about
        `steps` batches at most, early stopping on the real val rows and a perturbed copy of each; or reuse
        the cached reader."""
        from ..predict.predictor import Predictor

        role, column, encoder = g.output_role, g.target_column, reader_encoder(g)
        key = _key(table, column, np.concatenate([parts["train"], parts["val"]]), attributes,
                   f"{encoder}|steps={steps}", role)
        folder = cache / f"reader-{key}" if cache is not None else None
        if folder is not None and (folder / "polymodal.json").exists():
            return cls(Predictor.load(folder), attributes, column, role)
        df = _frame(table, column, role, attributes)
        val = parts["val"] if len(parts["val"]) else parts["train"]
        with scratch_folder() as tmp:
            df = pd.concat([df.iloc[parts["train"]].assign(split="train"), df.iloc[val].assign(split="val"),
                            _perturbed(g, df, parts["train"], Path(tmp) / "train", PERTURBED_COPIES, "train"),
                            _perturbed(g, df, val, Path(tmp) / "val", 1, "val")], ignore_index=True)
            predictor = _fit_reader(df, attributes, column, role, encoder, steps, folder)
        return cls(predictor, attributes, column, role)

    def read(self, paths: list[str | Path]) -> pd.DataFrame:
        """The reader's label for every attribute of every file, one row per file."""
        out = self.predictor.predict(pd.DataFrame({self.column: [str(p) for p in paths]}))
        return out.to_frame() if isinstance(out, pd.Series) else out

    def accuracy(self, paths: list[str | Path], truth: pd.DataFrame) -> dict[str, float]:
        """Share of files whose attribute the reader reads as `truth` says, per attribute."""
        read = self.read(paths)
        return {a: float((read[a].astype(str).to_numpy() == truth[a].astype(str).to_numpy()).mean())
                for a in self.attributes}


def _perturbed(g, df: pd.DataFrame, rows: np.ndarray, folder: Path, copies: int, split: str) -> pd.DataFrame:
    """Perturbed copies of `rows` (files written under `folder`) with the same attributes."""
    from .perturb import write_perturbed

    seed = {"train": 0, "val": 1}[split]  # held-out checks use seed 2 (evaluation.py)
    paths = write_perturbed(g, [Path(p) for p in df[g.target_column].iloc[rows]], folder, copies=copies, seed=seed)
    out = pd.concat([df.iloc[rows]] * copies, ignore_index=True).assign(split=split)
    out[g.target_column] = [str(p) for p in paths]
    return out


def _fit_reader(df: pd.DataFrame, attributes: list[str], column: str, role: str, encoder: str, steps: int,
                folder: Path | None):
    from ..predict.predictor import Predictor

    torch.manual_seed(0)
    batches = np.ceil((df["split"] == "train").sum() / 64)
    epochs = int(np.clip(steps / batches, MIN_EPOCHS, 300))  # about `steps` batches: small tables get more epochs
    p = Predictor(attributes, encoders={column: encoder}, baselines=False, epochs=epochs, patience=15,
                  batch_size=64, lr=2e-3, overrides={column: role}, progress=False, seed=0)
    return p.fit(df, out=folder)


def _frame(table: Table, column: str, role: str, attributes: list[str]) -> pd.DataFrame:
    """The media column as absolute paths plus the attributes as strings."""
    missing = [a for a in attributes if a not in table.df.columns]
    if missing:
        raise PolymodalError(f"{table.source}: no attribute column(s) {', '.join(map(repr, missing))} to read")
    df = table.df[attributes].astype(str).reset_index(drop=True)
    df.insert(0, column, [str(p) for p in cell_values(table, column, role)])
    return df


def real_paths(table: Table, column: str, role: str, rows: np.ndarray) -> list[Path]:
    paths = cell_values(table, column, role)
    return [Path(paths[i]) for i in rows]


def write_samples(g, samples: torch.Tensor, folder: Path) -> list[Path]:
    """One file per generated sample (PNG, WAV or GIF), as a user would save them."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(len(samples)):
        path = folder / f"{i:05d}{files.SUFFIX[g.output_role]}"
        atomic_write(path, g.to_bytes(samples[i:i + 1], columns=1)[0])
        out.append(path)
    return out


def scratch_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="polymodal-generated-")
