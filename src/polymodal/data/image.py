"""Image loading: any PIL-readable file, any mode -> normalised RGB tensor [3, H, W]."""

from __future__ import annotations

from dataclasses import dataclass
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
        im = ImageOps.exif_transpose(im)
        return to_rgb(im)


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
        im = fit_image(read_image(path, self.size), self.size, self.fit)
        return self.to_tensor(im)

    def to_tensor(self, im: Image.Image) -> torch.Tensor:
        arr = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return arr.sub_(mean).div_(std)

    def empty(self) -> torch.Tensor:
        return torch.zeros(3, self.size, self.size)
