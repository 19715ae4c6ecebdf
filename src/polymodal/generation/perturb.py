"""Content-preserving perturbations of real media, for training and checking attribute readers.

A reader trained on clean real files alone can key on what generated samples never reproduce
exactly: on `shapes`, a scratch CNN that read 99.7% of held-out real shapes right read 25% once the
background was pure white instead of light grey, 25% after a brightness shift of 12 levels, and 45%
with faint noise, so it would have scored a generator's backgrounds, not its shapes. Readers are
therefore trained on the real files plus perturbed copies, and trusted only when they also read
perturbed held-out real files (drawn with another seed) well.

Pictures and clips get a brightness shift, a contrast change, Gaussian noise and sometimes a slight
blur; sounds get a gain change and faint noise. Hue, position, size, timing and pitch are never
touched: they are the attributes being read. The perturbed copies are written as files of the
generator's own format and resolution (PNG, GIF, WAV), the same path generated samples take.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.audio import fix_length, read_audio
from ..runs.files import atomic_write
from . import files

BRIGHTNESS = 0.1  # shift, in units of the full range
CONTRAST = (0.8, 1.2)
NOISE = 0.06  # largest standard deviation
GAIN_DB = 6.0
AUDIO_NOISE = 0.01

_BLUR = torch.tensor([1.0, 2.0, 1.0])
_BLUR = (_BLUR[:, None] * _BLUR[None, :] / 16).view(1, 1, 3, 3)


def perturb_pixels(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Pixels `[..., 3, H, W]` in [0, 1] (one image, or the frames of one clip: the same change for all)."""
    mean = x.mean()
    y = (x - mean) * rng.uniform(*CONTRAST) + mean + rng.uniform(-BRIGHTNESS, BRIGHTNESS)
    if rng.random() < 0.5:  # a slight blur, mixed in by a random amount
        h, w = y.shape[-2:]
        blurred = F.conv2d(F.pad(y.reshape(-1, 1, h, w), (1, 1, 1, 1), mode="replicate"), _BLUR).view_as(y)
        y = torch.lerp(y, blurred, float(rng.uniform()))
    noise = torch.from_numpy(rng.standard_normal(tuple(y.shape)).astype(np.float32))
    return (y + noise * rng.uniform(0, NOISE)).clamp(0, 1)


def perturb_wave(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gain = 10 ** (rng.uniform(-GAIN_DB, GAIN_DB) / 20)
    noise = rng.standard_normal(wave.shape).astype(np.float32) * rng.uniform(0, AUDIO_NOISE)
    return np.clip(wave * gain + noise, -1, 1).astype(np.float32)


def _load(g, path: Path) -> torch.Tensor:
    """One file as a generator sample: pixels in [0, 1] at its resolution, or a waveform of its length."""
    medium = g.medium_
    if g.output_role == "audio":
        return torch.from_numpy(fix_length(read_audio(path, medium.sample_rate), medium.samples))
    return medium.output(medium.load(path).unsqueeze(0))[0]


def write_perturbed(g, paths: list[Path], folder: Path, *, copies: int = 1, seed: int = 0) -> list[Path]:
    """`copies` perturbed files per input file, copy-major (all first copies, then all second ones)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    suffix = files.SUFFIX[g.output_role]
    samples = [_load(g, Path(p)) for p in paths]
    out = []
    for k in range(copies):
        for i, x in enumerate(samples):
            y = torch.from_numpy(perturb_wave(x.numpy(), rng)) if g.output_role == "audio" else perturb_pixels(x, rng)
            data, _ = files.encode(g.output_role, y.unsqueeze(0), sample_rate=g.sample_rate or 16000, columns=1)
            out.append(atomic_write(folder / f"{k}-{i:05d}{suffix}", data))
    return out
