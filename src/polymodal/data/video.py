"""Short clips: an animated GIF (or a .npy of frames) -> float tensor [T, 3, H, W] in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence

from .image import to_rgb


def read_frames(path: str | Path) -> np.ndarray:
    """All frames as uint8 [T, H, W, 3]."""
    if str(path).lower().endswith(".npy"):
        arr = np.load(path, allow_pickle=False)
        return arr if arr.ndim == 4 else np.repeat(arr[..., None], 3, axis=-1)
    with Image.open(path) as im:
        return np.stack([np.asarray(to_rgb(f.copy())) for f in ImageSequence.Iterator(im)])


@dataclass(frozen=True)
class VideoLoader:
    """File -> [frames, 3, size, size]; clips are cropped or repeat their last frame to `frames`."""

    frames: int = 8
    size: int = 32

    @property
    def id(self) -> str:
        return f"video:{self.frames}:{self.size}"

    def __call__(self, path: str | Path) -> torch.Tensor:
        arr = read_frames(path)[: self.frames]
        if len(arr) < self.frames:
            arr = np.concatenate([arr, np.repeat(arr[-1:], self.frames - len(arr), axis=0)])
        x = torch.from_numpy(arr.copy()).permute(0, 3, 1, 2).float().div_(255)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear",
                                                align_corners=False)
        return x

    def empty(self) -> torch.Tensor:
        return torch.zeros(self.frames, 3, self.size, self.size)
