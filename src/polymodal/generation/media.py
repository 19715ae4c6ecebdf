"""What a generator outputs, as tensors a network can learn: one class per output role.

Every medium turns a table cell (a file) into a training target in [-1, 1] of a fixed
shape, channels first (`[3, H, W]`, `[1, n_mels, frames]`, `[3, T, H, W]`), and turns a
network output of that shape back into what `Generator.generate` returns: images and
clips in [0, 1], waveforms in [-1, 1]. Data-dependent state (the loudness range of the
spectrograms) is learned in `prepare` and kept in `config()`, so `medium_from_config`
rebuilds the same mapping for a loaded run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..data.audio import fix_length, read_audio
from ..data.image import fit_image, read_image
from ..data.video import read_frames
from ..errors import PolymodalError
from .spectrogram import db_mel, griffin_lim

SIZES = (16, 32, 64, 128)


def _check_size(size: int, what: str) -> None:
    if size not in SIZES:
        raise PolymodalError(f"{what} must be one of {', '.join(map(str, SIZES))} pixels, got {size}")


@dataclass(frozen=True)
class ImageMedium:
    """RGB images at `size` x `size` (centre crop after resizing the short side)."""

    size: int = 32
    role = "image"

    def __post_init__(self):
        _check_size(self.size, "image_size")

    @property
    def shape(self) -> tuple[int, ...]:
        return (3, self.size, self.size)

    def load(self, path: str | Path) -> torch.Tensor:
        pixels = np.asarray(fit_image(read_image(path, self.size), self.size), dtype=np.float32)
        return torch.from_numpy(pixels).permute(2, 0, 1).div(127.5).sub(1.0)

    def prepare(self, targets: torch.Tensor) -> ImageMedium:
        return self

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def output(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> the same in [0, 1]."""
        return x.add(1).div(2).clamp(0, 1)

    def config(self) -> dict:
        return {"role": self.role, **asdict(self)}


@dataclass(frozen=True)
class VideoMedium:
    """Clips of `frames` RGB frames at `size` x `size`; a network sees them as `[3, T, H, W]`."""

    frames: int = 8
    size: int = 32
    role = "video"

    def __post_init__(self):
        _check_size(self.size, "frame size")
        if self.frames not in (2, 4, 8, 16):
            raise PolymodalError(f"frames must be 2, 4, 8 or 16 (the networks double time), got {self.frames}")

    @property
    def shape(self) -> tuple[int, ...]:
        return (3, self.frames, self.size, self.size)

    def load(self, path: str | Path) -> torch.Tensor:
        arr = read_frames(path)[: self.frames]
        if len(arr) < self.frames:  # a short clip holds its last frame
            arr = np.concatenate([arr, np.repeat(arr[-1:], self.frames - len(arr), axis=0)])
        x = torch.from_numpy(arr.astype(np.float32)).permute(0, 3, 1, 2)  # [T, 3, h, w]
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="area")
        return x.div(127.5).sub(1.0).transpose(0, 1).contiguous()  # [3, T, H, W]

    def prepare(self, targets: torch.Tensor) -> VideoMedium:
        return self

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def output(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, T, H, W] in [-1, 1] -> [B, T, 3, H, W] in [0, 1]."""
        return x.transpose(1, 2).add(1).div(2).clamp(0, 1)

    def config(self) -> dict:
        return {"role": self.role, **asdict(self)}


@dataclass(frozen=True)
class AudioMedium:
    """Log-mel spectrograms `[1, n_mels, frames]` of clips of `seconds`, in decibels scaled to [-1, 1].

    The hop is chosen so that the clip spans exactly `frames` frames. The top of the decibel
    range is the 99.9th percentile of the training spectrograms and the range is `range_db`
    deep, so quiet noise floors do not take up the network's output range. Waveforms come
    back through Griffin-Lim (see spectrogram.py)."""

    sample_rate: int = 16000
    seconds: float = 1.0
    n_mels: int = 64
    frames: int = 64
    n_fft: int = 1024
    range_db: float = 80.0
    top_db: float = 0.0
    role = "audio"

    def __post_init__(self):
        _check_size(self.n_mels, "n_mels")
        _check_size(self.frames, "frames")
        if self.seconds <= 0 or self.hop < 1:
            raise PolymodalError(f"audio clips must last a positive time, got {self.seconds} s")

    @property
    def hop(self) -> int:
        return round(self.sample_rate * self.seconds / self.frames)

    @property
    def samples(self) -> int:
        return self.hop * self.frames

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, self.n_mels, self.frames)

    def load(self, path: str | Path) -> torch.Tensor:
        """Raw decibels; `scale` maps them into [-1, 1] once `prepare` has seen the training set."""
        wave = fix_length(read_audio(path, self.sample_rate), self.samples)
        return torch.from_numpy(self.decibels(wave)).unsqueeze(0)

    def decibels(self, wave: np.ndarray) -> np.ndarray:
        return db_mel(wave, self.sample_rate, self.n_fft, self.hop, self.n_mels)[:, : self.frames]

    def prepare(self, targets: torch.Tensor) -> AudioMedium:
        top = float(np.percentile(targets.numpy(), 99.9)) if len(targets) else 0.0
        return replace(self, top_db=round(top, 3))

    def scale(self, db: torch.Tensor) -> torch.Tensor:
        low = self.top_db - self.range_db
        return db.clamp(low, self.top_db).sub(low).div(self.range_db / 2).sub(1.0)

    def output(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, n_mels, frames] in [-1, 1] -> waveforms [B, samples] in [-1, 1]."""
        db = x[:, 0].add(1.0).mul(self.range_db / 2).add(self.top_db - self.range_db)
        waves = [griffin_lim(d.numpy(), self.sample_rate, self.n_fft, self.hop, self.samples) for d in db]
        return torch.from_numpy(np.stack(waves)) if waves else torch.zeros(0, self.samples)

    def config(self) -> dict:
        return {"role": self.role, **asdict(self)}


MEDIA = {"image": ImageMedium, "audio": AudioMedium, "video": VideoMedium}
Medium = ImageMedium | AudioMedium | VideoMedium


def medium_from_config(config: dict) -> Medium:
    config = dict(config)
    role = config.pop("role")
    if role not in MEDIA:
        raise PolymodalError(f"unknown output role {role!r}; valid: {', '.join(MEDIA)}")
    return MEDIA[role](**config)
