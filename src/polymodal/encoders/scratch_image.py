"""Small convolutional encoders trained from scratch: "cnn" for images, "video-cnn" for short clips.

They suit small or unusual images (digits, icons, spectrogram-like pictures)
where an ImageNet backbone is overkill, and they train quickly on a CPU.
"""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn

from ..data.image import ImageLoader
from ..data.video import VideoLoader
from ..errors import PolymodalError
from .base import Encoder, EncoderOutput, register_encoder


class ScratchEncoder(Encoder):
    """An encoder whose id also carries a digest of its config.

    Two scratch encoders with other sizes or other learned vocabularies then
    never share feature-cache entries, even with the same loader.
    """

    @property
    def id(self) -> str:
        blob = json.dumps(self.config(), sort_keys=True, ensure_ascii=False).encode()
        return f"{super().id}|cfg={hashlib.sha256(blob).hexdigest()[:10]}"


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv, batch norm, ReLU, then halve the resolution."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


def conv_stack(c_in: int, widths: list[int]) -> nn.Sequential:
    return nn.Sequential(*(conv_block(a, b) for a, b in zip([c_in, *widths[:-1]], widths, strict=True)))


class ImageCNN(ScratchEncoder):
    """Four conv blocks (width, 2w, 4w, 4w) -> grid of `image_size / 16` squared cells -> linear projection."""

    name, roles, version = "cnn", ("image",), "1"

    def __init__(self, image_size: int = 64, width: int = 32, out_dim: int = 128) -> None:
        super().__init__()
        if image_size < 16:
            raise PolymodalError(f"cnn needs image_size >= 16 (four 2x poolings), got {image_size}")
        self.image_size, self.width, self.out_dim = image_size, width, out_dim
        self.blocks = conv_stack(3, [width, 2 * width, 4 * width, 4 * width])
        self.proj = nn.Linear(4 * width, out_dim)

    def loader(self) -> ImageLoader:
        return ImageLoader(size=self.image_size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    def config(self) -> dict:
        return {"image_size": self.image_size, "width": self.width, "out_dim": self.out_dim}

    def last_blocks(self) -> nn.Module:
        return nn.ModuleList([self.blocks[-1], self.proj])

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        grid = self.blocks(x)  # [B, C, H', W']
        tokens = self.proj(grid.flatten(2).transpose(1, 2))  # [B, H'W', out_dim]
        return EncoderOutput(tokens.mean(dim=1), tokens)


class VideoCNN(ScratchEncoder):
    """A 2D CNN on every frame, then a temporal convolution (so frame order matters) and a projection.

    Tokens are one per frame; pooled is their mean.
    """

    name, roles, version = "video-cnn", ("video",), "1"

    def __init__(self, frames: int = 8, frame_size: int = 32, width: int = 16, out_dim: int = 128) -> None:
        super().__init__()
        if frame_size < 8:
            raise PolymodalError(f"video-cnn needs frame_size >= 8 (three 2x poolings), got {frame_size}")
        self.frames, self.frame_size, self.width, self.out_dim = frames, frame_size, width, out_dim
        self.blocks = conv_stack(3, [width, 2 * width, 4 * width])
        self.temporal = nn.Sequential(nn.Conv1d(4 * width, 4 * width, 3, padding=1), nn.ReLU(inplace=True))
        self.proj = nn.Linear(4 * width, out_dim)

    def loader(self) -> VideoLoader:
        return VideoLoader(frames=self.frames, size=self.frame_size)

    def config(self) -> dict:
        return {"frames": self.frames, "frame_size": self.frame_size, "width": self.width, "out_dim": self.out_dim}

    def last_blocks(self) -> nn.Module:
        return nn.ModuleList([self.temporal, self.proj])

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        b, t = x.shape[:2]
        per_frame = self.blocks((x.flatten(0, 1) - 0.5) / 0.5).mean(dim=(2, 3))  # [B*T, C]; input is in [0, 1]
        seq = self.temporal(per_frame.view(b, t, -1).transpose(1, 2)).transpose(1, 2)  # [B, T, C]
        tokens = self.proj(seq)
        return EncoderOutput(tokens.mean(dim=1), tokens)


@register_encoder("cnn", ["image"], summary="small CNN trained from scratch; tokens = final feature grid")
def build_cnn(image_size: int = 64, width: int = 32, out_dim: int = 128) -> ImageCNN:
    return ImageCNN(image_size=image_size, width=width, out_dim=out_dim)


@register_encoder("video-cnn", ["video"], summary="per-frame CNN + temporal conv, from scratch; tokens = frames")
def build_video_cnn(frames: int = 8, frame_size: int = 32, width: int = 16, out_dim: int = 128) -> VideoCNN:
    return VideoCNN(frames=frames, frame_size=frame_size, width=width, out_dim=out_dim)
