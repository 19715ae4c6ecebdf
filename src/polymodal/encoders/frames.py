"""EfficientNet-Lite0 on sampled frames of a clip: a frozen pretrained video encoder whose features are cached.

A clip (an animated GIF, or a `.npy` of frames) gives `frames` frames spread evenly over its length, each
resized to `size` pixels and normalised as EfficientNet-Lite0 expects (encoders/efficientnet.py). From each
frame's 1280-channel feature grid, over time: the mean of the pooled features (what is in the clip), their
maximum (what appears in some frame), their mean absolute change between neighbouring frames (how much it
changes), and where it moves: each channel's centre of activation on the grid, its shift in x and in y from
the first frame to the last. Pooled features alone cannot tell left from right (pooling forgets where), the
shift can. 5 x 1280 = 6400 dimensions. Being frozen and pretrained, a column's features are computed once
and cached like an image's, so every candidate of a fit reads them instead of training the scratch
`video-cnn` again.

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

STATS = ("mean", "max", "change", "shift_x", "shift_y")


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
    version = "2"  # 2: the centre-of-activation shifts joined the statistics

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
        with torch.no_grad():  # the feature grid's size at this input size, and its cells' coordinates in [-1, 1]
            h, w = self.net.eval().extract_features(torch.zeros(1, 3, self.size, self.size)).shape[-2:]
        # buffers, not linspace in forward: traced for ONNX, linspace came out as a range with other values
        self.register_buffer("ys", torch.linspace(-1, 1, h).view(1, 1, h, 1), persistent=False)
        self.register_buffer("xs", torch.linspace(-1, 1, w).view(1, 1, 1, w), persistent=False)
        self.set_mode(mode).train()

    def loader(self) -> FrameSampler:
        return self._loader

    def config(self) -> dict:
        return {"frames": self.frames, "size": self.size}

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        b, t = x.shape[:2]
        grid = self.net.extract_features(x.flatten(0, 1))  # [B*T, 1280, h, w], ReLU6: non-negative
        per_frame = grid.mean((2, 3)).view(b, t, -1)  # [B, T, 1280]
        change = (per_frame[:, 1:] - per_frame[:, :-1]).abs().mean(1)
        # + 1: a channel barely active anywhere has no place to speak of, and its centre stays near 0 (dividing by
        # its tiny sum alone made the centre swing with rounding, and ONNX Runtime failed the parity check)
        weight = grid / (grid.sum((2, 3), keepdim=True) + 1.0)
        cx = (weight * self.xs.to(grid.dtype)).sum((2, 3)).view(b, t, -1)  # each channel's centre of activation
        cy = (weight * self.ys.to(grid.dtype)).sum((2, 3)).view(b, t, -1)
        pooled = torch.cat([per_frame.mean(1), per_frame.amax(1), change, cx[:, -1] - cx[:, 0], cy[:, -1] - cy[:, 0]],
                           dim=1)
        return EncoderOutput(pooled)  # no tokens: a token would be 1280-d, the pooled features 3840-d


@register_encoder("efficientnet-lite0-frames", roles=("video",), pretrained=True,
                  summary="EfficientNet-Lite0 on 4 sampled frames (112 px): mean, max, change, shift, 6400-d")
def build_efficientnet_frames(frames: int = 4, size: int = 112, mode: str = "frozen") -> EfficientNetFrames:
    return EfficientNetFrames(frames=frames, size=size, mode=mode)
