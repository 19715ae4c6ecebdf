"""Image loading: any PIL-readable file, any mode -> normalised RGB tensor [3, H, W]."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FITS = ("crop", "pad", "stretch")


def to_rgb(im: Image.Image, background=(255, 255, 255)) -> Image.Image:
    """Any mode to RGB. Transparent pixels go onto `background`, not onto black."""
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        canvas = Image.new("RGB", im.size, background)
        canvas.paste(im.convert("RGBA"), mask=im.convert("RGBA").getchannel("A"))
        return canvas
    if im.mode in ("I", "I;16", "I;16B", "F"):  # 16-bit / float greyscale: rescale, don't clip
        arr = np.asarray(im, dtype=np.float32)
        span = float(arr.max() - arr.min()) or 1.0
        return Image.fromarray(((arr - arr.min()) / span * 255).astype(np.uint8)).convert("RGB")
    return im.convert("RGB")


def fit_image(im: Image.Image, size: int, fit: str = "crop") -> Image.Image:
    """Square `size` x `size`: centre-crop after resizing the short side, letterbox, or stretch."""
    if fit == "crop":
        return ImageOps.fit(im, (size, size), method=Image.Resampling.BILINEAR)
    if fit == "pad":
        return ImageOps.pad(im, (size, size), method=Image.Resampling.BILINEAR, color=(255, 255, 255))
    if fit == "stretch":
        return im.resize((size, size), Image.Resampling.BILINEAR)
    raise ValueError(f"unknown fit {fit!r}; valid: {', '.join(FITS)}")


def read_image(path: str | Path, size: int | None = None) -> Image.Image:
    """Open, decode fully (so a truncated file fails here), apply EXIF rotation, convert to RGB."""
    with Image.open(path) as im:
        if size is not None:
            im.draft("RGB", (size, size))  # JPEG decodes at reduced scale: much faster for photos
        im.load()
        ImageOps.exif_transpose(im, in_place=True)
        # An RGB image is returned as decoded (the file is closed, the pixels stay): the copies that
        # exif_transpose and convert("RGB") used to make were a quarter of the time of a PNG load.
        return im if im.mode == "RGB" else to_rgb(im)


@lru_cache(maxsize=8)
def _normalise_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """[3, 256] float32: the normalised value of each byte value, per channel."""
    values = np.arange(256, dtype=np.float64) / 255
    return ((values[None, :] - np.asarray(mean)[:, None]) / np.asarray(std)[:, None]).astype(np.float32)


@dataclass(frozen=True)
class ImageLoader:
    """File -> float tensor [3, size, size], normalised with `mean`/`std`."""

    size: int = 224
    fit: str = "crop"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def id(self) -> str:
        """Stable description of the preprocessing, part of feature-cache keys."""
        return f"image:{self.size}:{self.fit}:{self.mean}:{self.std}"

    def __call__(self, path: str | Path) -> torch.Tensor:
        return self.normalise(self.pixels(path))

    def pixels(self, path: str | Path) -> np.ndarray:
        """The decoded, fitted image as uint8 `[size, size, 3]`: everything but the normalisation."""
        return np.asarray(fit_image(read_image(path, self.size), self.size, self.fit), dtype=np.uint8)

    def to_tensor(self, im: Image.Image) -> torch.Tensor:
        return self.normalise(np.asarray(im, dtype=np.uint8))

    def normalise(self, pixels: np.ndarray) -> torch.Tensor:
        """uint8 `[H, W, 3]` -> normalised float `[3, H, W]`."""
        # A lookup table per channel, in numpy: one pass, no float temporaries, and no torch
        # intra-op threads, which on a small busy machine wait on each other for tiny tensors.
        table = _normalise_table(tuple(self.mean), tuple(self.std))
        out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
        for c in range(3):
            np.take(table[c], pixels[..., c], out=out[c])
        return torch.from_numpy(out)

    def normalise_batch(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 `[B, H, W, 3]` -> normalised float `[B, 3, H, W]` in torch operations, so that an
        exported graph can start from pixels; equal to `normalise` to float32 rounding."""
        mean, std = torch.tensor(self.mean, dtype=torch.float64), torch.tensor(self.std, dtype=torch.float64)
        scale, shift = (1 / (255 * std)).float().view(1, 3, 1, 1), (-mean / std).float().view(1, 3, 1, 1)
        return pixels.permute(0, 3, 1, 2).float() * scale + shift

    def empty(self) -> torch.Tensor:
        return torch.zeros(3, self.size, self.size)
