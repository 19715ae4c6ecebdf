"""EfficientNet-Lite0 on sampled frames of a clip: a frozen pretrained video encoder whose features are cached.

A clip (an animated GIF, or a `.npy` of frames) gives `frames` frames spread evenly over its length, each
resized to `size` pixels and normalised as EfficientNet-Lite0 expects (encoders/efficientnet.py). Each
frame's 1280-d pooled features, over time: the mean (what is in the clip), the maximum (what appears in
some frame) and the mean absolute change between neighbouring frames (how much it moves), 3 x 1280 = 3840
dimensions. Being frozen and pretrained, a column's features are computed once and cached like an image's,
so every candidate of a fit reads them instead of training the scratch `video-cnn` again.

`size` defaults to 112 rather than the network's 224: a quarter of the pixels, so four times the frames
per second, and short synthetic clips of 32-64 px gain nothing from more. Give `size=224` for real footage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.video import read_frames
from ..errors import PolymodalError
from .base import Encoder, EncoderOutput, register_encoder
from .efficientnet import MEAN, STD, LastBlocks, load_network

STATS = ("mean", "max", "diff")


@dataclass(frozen=True)
class FrameSampler:
    """File -> `[frames, 3, size, size]`, normalised: frames spread evenly over the clip (a short clip repeats
    some)."""

    frames: int = 4
    size: int = 112

    @property
    def id(self) -> str:
        return f"frames:{self.frames}:{self.size}:tflite-norm"

    def __call__(self, path: str | Path) -> torch.Tensor:
        arr = read_frames(path)
        picked = np.linspace(0, len(arr) - 1, self.frames).round().astype(int)
        x = torch.from_numpy(arr[picked].copy()).permute(0, 3, 1, 2).float().div_(255)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
        return (x - mean) / std

    def empty(self) -> torch.Tensor:
        return torch.zeros(self.frames, 3, self.size, self.size)


class EfficientNetFrames(LastBlocks, Encoder):
    name = "efficientnet-lite0-frames"
    roles = ("video",)
    pretrained = True
    version = "1"

    def __init__(self, *, frames: int = 4, size: int = 112, mode: str = "frozen"):
        super().__init__()
        if frames < 2:
            raise PolymodalError(f"efficientnet-lite0-frames: frames must be at least 2 (motion needs two), got "
                                 f"{frames}")
        if size < 32:
            raise PolymodalError(f"efficientnet-lite0-frames: size must be at least 32 pixels, got {size}")
        self.frames, self.size = int(frames), int(size)
        self._loader = FrameSampler(self.frames, self.size)
        self.net = load_network()
        self.out_dim = 1280 * len(STATS)
        self.set_mode(mode).train()

    def loader(self) -> FrameSampler:
        return self._loader

    def config(self) -> dict:
        return {"frames": self.frames, "size": self.size}

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        b, t = x.shape[:2]
        per_frame = self.net.extract_features(x.flatten(0, 1)).mean((2, 3)).view(b, t, -1)  # [B, T, 1280]
        change = (per_frame[:, 1:] - per_frame[:, :-1]).abs().mean(1)
        pooled = torch.cat([per_frame.mean(1), per_frame.amax(1), change], dim=1)
        return EncoderOutput(pooled)  # no tokens: a token would be 1280-d, the pooled features 3840-d


@register_encoder("efficientnet-lite0-frames", roles=("video",), pretrained=True,
                  summary="EfficientNet-Lite0 on 4 sampled frames (112 px): mean, max and frame change, 3840-d")
def build_efficientnet_frames(frames: int = 4, size: int = 112, mode: str = "frozen") -> EfficientNetFrames:
    return EfficientNetFrames(frames=frames, size=size, mode=mode)
