"""Generated samples as files: a PNG grid of images, a WAV of clips one after another, or an
animated GIF of a grid of clips. `encode(role, samples)` gives the bytes and their media type;
Bytes reach disk through runs/files.py's `atomic_write`."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image

from ..errors import PolymodalError

SUFFIX = {"image": ".png", "audio": ".wav", "video": ".gif"}
MEDIA_TYPE = {"image": "image/png", "audio": "audio/wav", "video": "image/gif"}
GAP = 2  # pixels between grid cells
GAP_COLOUR = 255
SILENCE_SECONDS = 0.25
FRAME_MS = 100


def grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """[N, H, W, 3] uint8 -> one [rows*H, columns*W, 3] picture, row-major, with white gaps."""
    n, h, w = images.shape[:3]
    columns = max(1, min(n, columns or math.ceil(math.sqrt(n))))
    rows = max(1, math.ceil(n / columns))
    out = np.full((rows * h + (rows - 1) * GAP, columns * w + (columns - 1) * GAP, 3), GAP_COLOUR, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + GAP): r * (h + GAP) + h, c * (w + GAP): c * (w + GAP) + w] = image
    return out


def _bytes_image(x: torch.Tensor) -> np.ndarray:
    """[..., 3, H, W] in [0, 1] -> [..., H, W, 3] uint8."""
    return (x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)).movedim(-3, -1).cpu().numpy()


def png_grid(samples: torch.Tensor, columns: int | None = None) -> bytes:
    if samples.ndim != 4 or samples.shape[1] != 3 or len(samples) == 0:
        raise PolymodalError(f"an image grid needs samples [N, 3, H, W] with N >= 1, got {tuple(samples.shape)}")
    buf = io.BytesIO()
    Image.fromarray(grid(_bytes_image(samples), columns)).save(buf, format="PNG")
    return buf.getvalue()


def gif_grid(samples: torch.Tensor, columns: int | None = None) -> bytes:
    """[N, T, 3, H, W] -> an animated GIF whose every frame is the grid of the clips' frame t."""
    if samples.ndim != 5 or samples.shape[2] != 3 or len(samples) == 0:
        raise PolymodalError(f"a clip grid needs samples [N, T, 3, H, W] with N >= 1, got {tuple(samples.shape)}")
    pixels = _bytes_image(samples)  # [N, T, H, W, 3]
    frames = [Image.fromarray(grid(pixels[:, t], columns)) for t in range(pixels.shape[1])]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=FRAME_MS, loop=0)
    return buf.getvalue()


def wav_sequence(samples: torch.Tensor, sample_rate: int) -> bytes:
    """[N, S] in [-1, 1] -> one 16-bit mono WAV: the clips in order, short silences between them."""
    if samples.ndim != 2 or len(samples) == 0:
        raise PolymodalError(f"a WAV needs waveforms [N, samples] with N >= 1, got {tuple(samples.shape)}")
    gap = np.zeros(int(SILENCE_SECONDS * sample_rate), np.float32)
    parts = []
    for i, wave in enumerate(samples.detach().float().clamp(-1, 1).cpu().numpy()):
        parts += [gap, wave] if i else [wave]
    buf = io.BytesIO()
    sf.write(buf, np.concatenate(parts), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def encode(role: str, samples: torch.Tensor, *, sample_rate: int = 16000, columns: int | None = None
           ) -> tuple[bytes, str]:
    if role == "image":
        return png_grid(samples, columns), MEDIA_TYPE[role]
    if role == "video":
        return gif_grid(samples, columns), MEDIA_TYPE[role]
    if role == "audio":
        return wav_sequence(samples, sample_rate), MEDIA_TYPE[role]
    raise PolymodalError(f"unknown output role {role!r}; valid: {', '.join(SUFFIX)}")


def check_suffix(role: str, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != SUFFIX[role]:
        raise PolymodalError(f"{path}: a generator of {role} writes {SUFFIX[role]} files; "
                             f"name the output something{SUFFIX[role]}")
    return path
