"""`Generator`: text-to-image, text-to-audio and text-to-video behind one scikit-learn-like facade.

    g = Generator("text-to-image", model="cvae", prompt="caption", target="image").fit(table, out="runs/t2i")
    images = g.generate(["a large red circle on the left"], n=8, seed=0)   # [8, 3, 32, 32] in [0, 1]
    g.write(images, "grid.png"); g.evaluate(table)
    g = Generator.load("runs/t2i")      # or polymodal.load(...)

The prompt column is free text and the target column holds files (images, WAV clips, GIF
clips). Prompts are embedded by the frozen MiniLM (through the feature cache) or by a GRU
trained with the model; the model is one of the registry's (`cgan`, `cvae`, `unconditional`).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.splits import split_rows
from ..data.table import Table, read_table
from ..data.text import normalize_text
from ..data.validate import validate, write_skipped
from ..encoders.materialize import cell_values
from ..errors import PolymodalError, TableError
from ..runs.files import atomic_write
from ..runs.job import Job
from ..schema import Column, Schema
from ..training.settings import check_settings
from . import files, run_io
from .base import GenerativeModel, build_model, model_names
from .conditioning import TEXT_ENCODERS, Prompts
from .media import AudioMedium, ImageMedium, Medium, VideoMedium
from .trainer import GenData, train_generative

TASKS = {"text-to-image": "image", "text-to-audio": "audio", "text-to-video": "video", "image-to-image": "image"}
TRANSLATION = "image-to-image"  # from the images of a `source` column to those of `target`, unpaired (cyclegan.py)
# Training length when `epochs` is not given, in batches (steps). Measured on one-shape `shapes` scenes (BENCHMARKS.md,
# generation): the cVAE's images were read as the prompt's shape 95.7% of the time after 4,200 steps (73% after
# ~1,900); GANs train more slowly per step and get 6,000.
DEFAULT_STEPS = {"cvae": 4_000, "cgan": 6_000, "unconditional": 6_000, "cyclegan": 3_000}
PREVIEW_PROMPTS = 8
PREVIEW_SAMPLES = 4


class Generator(Job):
    kind = "generator"
    FILES = ("generator.json",)

    def __init__(self, task: str = "text-to-image", model: str = "cvae", prompt: str = "caption",
                 target: str | None = None, *, source: str | None = None, text_encoder: str = "minilm",
                 image_size: int = 32, frames: int = 8,
                 seconds: float = 1.0, n_mels: int = 64, audio_frames: int = 64, z_dim: int = 64,
                 cond_dim: int = 128, width: int = 16, epochs: int | None = None, batch_size: int = 64,
                 lr: float | None = None, seed: int = 0,
                 model_options: dict | None = None, attributes: list[str] | None = None,
                 evaluate_after_fit: bool = True,
                 on_error: str = "error", progress: bool = True):
        if task not in TASKS:
            raise PolymodalError(f"unknown generation task {task!r}; valid: {', '.join(TASKS)}")
        if model not in model_names():
            raise PolymodalError(f"unknown generative model {model!r}; valid: {', '.join(model_names())}")
        if text_encoder not in TEXT_ENCODERS:
            raise PolymodalError(f"unknown text encoder {text_encoder!r}; valid: {', '.join(TEXT_ENCODERS)}")
        # None: the model's default (epochs from DEFAULT_STEPS, the model's own learning rate)
        check_settings(batch_size=batch_size, **{k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None})
        from .base import MODELS

        translates = getattr(MODELS[model], "translates", False)
        if (task == TRANSLATION) != translates:
            raise PolymodalError(f"--task {TRANSLATION} translates with --model cyclegan" if task == TRANSLATION else
                                 f"--model {model} translates images (--task {TRANSLATION}); --task {task} generates "
                                 f"from text: choose one of {', '.join(n for n in model_names() if n != model)}")
        if task == TRANSLATION and not source:
            raise PolymodalError(f"--task {TRANSLATION} needs the image column to translate from: source=COL "
                                 "(--source COL), and target=COL (--target COL) for the images to learn the look of")
        if task != TRANSLATION and source is not None:
            raise PolymodalError(f"source (--source) is the image column of --task {TRANSLATION}; --task {task} "
                                 "generates from the prompt column (--prompt)")
        self.task, self.model, self.prompt, self.source = task, model, prompt, source
        self.target = target  # as given (scikit-learn's rule); see target_column
        self.text_encoder, self.image_size, self.frames, self.seconds = text_encoder, image_size, frames, seconds
        self.n_mels, self.audio_frames = n_mels, audio_frames
        self.z_dim, self.cond_dim, self.width = z_dim, cond_dim, width
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        self.model_options, self.attributes = model_options, attributes
        self.evaluate_after_fit, self.on_error, self.progress = evaluate_after_fit, on_error, progress
        self.medium_ = self._medium()  # checks the sizes now, before any data is read

    @property
    def target_column(self) -> str:
        return self.target or TASKS[self.task]

    @property
    def output_role(self) -> str:
        return TASKS[self.task]

    @property
    def sample_rate(self) -> int | None:
        return self.medium_.sample_rate if isinstance(self.medium_, AudioMedium) else None

    def _medium(self) -> Medium:
        if self.output_role == "image":
            return ImageMedium(self.image_size)
        if self.output_role == "video":
            return VideoMedium(self.frames, self.image_size)
        return AudioMedium(seconds=float(self.seconds), n_mels=self.n_mels, frames=self.audio_frames)

    # ----------------------------------------------------------------- fit
    def fit(self, data, *, out: str | Path | None = None, resume: bool = False, overwrite: bool = False,
            tensorboard: bool = False) -> Generator:
        """Fit on `data`; `out`, `resume`, `overwrite` as for `Predictor.fit`."""
        out = self._start_fit(out, resume=resume, overwrite=overwrite, tensorboard=tensorboard)
        if self.task == TRANSLATION:
            from .translation import fit_translation

            fit_translation(self, data, out, resume)
            self._finish_fit(out)
            return self
        table, parts = self._read(data, out)
        train = parts["train"]
        texts = [normalize_text(str(t)) for t in table.df[self.prompt].iloc[train]]
        self.tokenizer_ = Prompts.learn_tokenizer(texts) if self.text_encoder == "gru" else ""
        self.prompts_ = Prompts(self.text_encoder, self.tokenizer_)
        self.prompts_.check(texts, where=f"{table.source}: column {self.prompt!r}, training prompt")
        x = self.load_targets(table, train)
        self.medium_ = self.medium_.prepare(x)
        keys = torch.tensor(pd.factorize(pd.Series([t.lower() for t in texts]))[0], dtype=torch.long)
        cond = self.prompts_.inputs(texts, progress=self.progress) if self._conditional() else [""] * len(texts)
        self.preview_prompts_ = self._preview_prompts(table, parts)
        torch.manual_seed(self.seed)  # same seed, same initial weights
        self.model_ = self._build()
        self.previews_: list[bytes] = []
        ckpt = out / "checkpoints" if out is not None else None
        self.epochs_ = self._epochs(len(train))
        result = train_generative(self.model_, GenData(self.medium_.scale(x), cond, keys), epochs=self.epochs_,
                                  batch_size=self.batch_size, lr=self.lr or self._default_lr(), seed=self.seed,
                                  checkpoint_dir=ckpt, resume=resume, progress=self.progress,
                                  on_epoch=lambda epoch, row: self._end_epoch(epoch, row, out),
                                  desc=f"{self.model} {self.task}")
        self.history_, self.train_seconds_ = result.history, result.seconds
        self.split_sizes_ = {k: len(v) for k, v in parts.items()}
        self.metrics_ = {}
        if self.evaluate_after_fit and (len(parts["test"]) or len(parts["val"])):
            self.metrics_ = self.evaluate(table)
        self._finish_fit(out)
        return self

    def _epochs(self, n_train: int) -> int:
        """`epochs`, else enough whole batches for the model's `DEFAULT_STEPS`, whatever the table's size."""
        if self.epochs is not None:
            return int(self.epochs)
        per_epoch = max(1, n_train // min(self.batch_size, n_train))  # the trainer's whole batches
        return max(1, math.ceil(DEFAULT_STEPS.get(self.model, 6_000) / per_epoch))

    def _default_lr(self) -> float:
        return 1e-3 if self.model == "cvae" else 1e-4  # GANs: the generator's; the discriminator's is 4x

    def _conditional(self) -> bool:
        from .base import MODELS

        return MODELS[self.model].conditional

    def _build(self) -> GenerativeModel:
        return build_model(self.model, self.medium_.shape, text_encoder=self.text_encoder, tokenizer=self.tokenizer_,
                           z_dim=self.z_dim, cond_dim=self.cond_dim, width=self.width, **(self.model_options or {}))

    def _read(self, data, out) -> tuple[Table, dict[str, np.ndarray]]:
        """The table with the prompt and target columns checked (every bad cell listed), and its splits."""
        table = read_table(data)
        missing = [c for c in (self.prompt, self.target_column) if c not in table.df.columns]
        if missing:
            raise TableError(f"{table.source}: no column(s) {', '.join(map(repr, missing))}; columns: "
                             f"{', '.join(map(str, table.df.columns))}")
        columns = [Column(self.prompt, "text", "prompt"), Column(self.target_column, self.output_role, "target")]
        if "split" in table.df.columns:
            columns.append(Column("split", "split", "split column"))
        schema = Schema(columns, table.source)
        report = validate(table, schema, on_error=self.on_error, require_all=True)
        if out is not None:
            write_skipped(report, Path(out) / "skipped.csv")
        table = report.table
        if len(table) < 2:
            raise PolymodalError(f"{table.source}: a generator needs at least 2 usable rows, got {len(table)}")
        return table, split_rows(table.df, schema, None, seed=self.seed)

    def load_targets(self, table: Table, rows) -> torch.Tensor:
        """The target files of `rows` as unscaled tensors (decoded in threads)."""
        paths = cell_values(table, self.target_column, self.output_role)
        with ThreadPoolExecutor(4) as pool:
            return torch.stack(list(pool.map(self._load_one, [paths[i] for i in rows])))

    def _load_one(self, path) -> torch.Tensor:
        try:
            return self.medium_.load(path)
        except Exception as exc:
            raise PolymodalError(f"{path}: cannot be read as {self.output_role}: {exc}") from exc

    def _preview_prompts(self, table: Table, parts: dict[str, np.ndarray]) -> list[str]:
        """Up to 8 distinct prompts from the held-out rows (else the training rows), in table order."""
        rows = parts["test"] if len(parts["test"]) else parts["val"] if len(parts["val"]) else parts["train"]
        seen: dict[str, None] = {}
        for text in table.df[self.prompt].iloc[rows]:
            seen.setdefault(normalize_text(str(text)), None)
        return list(seen)[:PREVIEW_PROMPTS]

    def _end_epoch(self, epoch: int, row: dict, out) -> None:
        self.log_.log(self.model, row)
        self._preview(epoch, out)

    def _preview(self, epoch: int, out) -> None:
        """The epoch's sample grid (a row per preview prompt, same noise every epoch) for the report."""
        if self.task == TRANSLATION:  # each held-out source image, its translation and back (translation.py)
            from .translation import preview

            data = preview(self)
        else:
            data = self._preview_bytes(self._sample(self.preview_prompts_, PREVIEW_SAMPLES, seed=0, decode=False))
        self.previews_.append(data)
        if out is not None:
            atomic_write(Path(out) / "samples" / f"epoch-{epoch:04d}{self._preview_suffix()}", data)

    def _preview_suffix(self) -> str:
        return ".gif" if self.output_role == "video" else ".png"

    def _preview_bytes(self, raw: torch.Tensor) -> bytes:
        """Images and clips as they are; spectrograms as grey pictures (Griffin-Lim each epoch is too slow)."""
        if self.output_role == "audio":
            picture = raw.add(1).div(2).flip(-2).expand(-1, 3, -1, -1)  # low frequencies at the bottom
            return files.png_grid(picture, PREVIEW_SAMPLES)
        return files.png_grid(self.medium_.output(raw), PREVIEW_SAMPLES) if self.output_role == "image" else \
            files.gif_grid(self.medium_.output(raw), PREVIEW_SAMPLES)

    # ------------------------------------------------------------ generate
    def generate(self, prompts: list[str], *, n: int = 1, seed: int = 0) -> torch.Tensor:
        """`n` samples per prompt, prompt-major: images [P*n, 3, H, W] and clips [P*n, T, 3, H, W] in
        [0, 1]; waveforms [P*n, S] in [-1, 1] at `sample_rate`. An image-to-image run translates image files
        instead (`translate`; one output each, `n` and `seed` unused)."""
        if self.task == TRANSLATION:
            return self.translate(prompts)
        return self._sample(prompts, n, seed=seed, decode=True)

    def translate(self, images, *, back: bool = False) -> torch.Tensor:
        """An image-to-image run: image files (or `[N, 3, H, W]` in [0, 1]) translated from the source column's look
        to the target's (`back=True`: the other way), `[N, 3, H, W]` in [0, 1] (translation.py)."""
        if self.task != TRANSLATION:
            raise PolymodalError(f"translate() is for --task {TRANSLATION} runs; this one is {self.task}: generate()")
        from .translation import translate

        return translate(self, images, back=back)

    def _sample(self, prompts: list[str], n: int, *, seed: int, decode: bool, batch: int = 256) -> torch.Tensor:
        self._check_fitted()
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise PolymodalError(f"n (samples per prompt) must be a whole number of at least 1, got {n!r}")
        texts = self.prompts_.check(prompts)
        if not texts:
            raise PolymodalError("no prompts given: pass at least one")
        cond = self.prompts_.inputs(texts) if self._conditional() else None
        z = torch.randn(len(texts) * n, self.model_.z_dim, generator=torch.Generator().manual_seed(int(seed)))
        outs = []
        for start in range(0, len(z), batch):
            rows = torch.arange(start, min(start + batch, len(z))) // n  # prompt of each sample
            c = None if cond is None else cond[rows] if isinstance(cond, torch.Tensor) else [cond[i] for i in rows]
            raw = self.model_.sample(c, z[start:start + batch])
            outs.append(self.medium_.output(raw) if decode else raw)
        return torch.cat(outs)

    def to_bytes(self, samples: torch.Tensor, *, columns: int | None = None) -> tuple[bytes, str]:
        """A PNG grid, a WAV (clips one after another with short silences) or an animated GIF grid."""
        return files.encode(self.output_role, samples, sample_rate=self.sample_rate or 16000, columns=columns)

    def write(self, samples: torch.Tensor, path: str | Path, *, columns: int | None = None) -> Path:
        path = files.check_suffix(self.output_role, path)
        return atomic_write(path, self.to_bytes(samples, columns=columns)[0])

    # ------------------------------------------------------------ evaluate
    def evaluate(self, data, *, drop: list[str] | None = None, **options) -> dict:
        """Objective metrics of samples generated for the table's held-out prompts (see evaluation.py)."""
        from .evaluation import evaluate_generator

        self._check_fitted()
        if drop:
            raise PolymodalError("a generator has a single input (the prompt); there is no modality to drop")
        if self.task == TRANSLATION:
            from .translation import evaluate_translation

            return evaluate_translation(self, data, **options)
        return evaluate_generator(self, data, **options)

    # ------------------------------------------------------ run directory (see run_io.py)
    def _save_state(self, run: Path) -> None:
        run_io.save_state(self, run)

    def _load_state(self, run: Path) -> None:
        run_io.load_state(self, run)

    def _summary(self) -> dict:
        return {"task": self.task, "model": self.model, "splits": self.split_sizes_,
                "fit_seconds": round(self.fit_seconds_, 2), "train_seconds": round(self.train_seconds_, 2),
                **self.metrics_}

    def _write_report(self, run: Path) -> None:
        from .report import write_generator_report

        write_generator_report(self, run)

    def _card(self, summary: dict) -> list[tuple[str, str]]:
        return run_io.card_sections(self, summary)

    def _marker(self) -> dict:
        return {"task": self.task}
