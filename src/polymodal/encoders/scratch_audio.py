"""The "audio-cnn" encoder: a small 2D CNN over log-mel spectrograms, trained from scratch.

Each example is standardised on its own (zero mean, unit variance over the
whole spectrogram) before the convolutions: a log-mel of a louder recording is
the same picture shifted up, so this makes the features ignore gain.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.audio import AudioLoader
from ..errors import PolymodalError
from .base import EncoderOutput, register_encoder
from .scratch_image import ScratchEncoder, conv_stack


class AudioCNN(ScratchEncoder):
    """Four conv blocks over [n_mels, frames]; frequency is averaged out, leaving tokens over time."""

    name, roles, version = "audio-cnn", ("audio",), "1"

    def __init__(self, seconds: float = 2.0, sample_rate: int = 16000, n_mels: int = 64, width: int = 32,
                 out_dim: int = 128) -> None:
        super().__init__()
        frames = AudioLoader(sample_rate=sample_rate, seconds=seconds, n_mels=n_mels).frames
        if n_mels < 16 or frames < 16:  # four 2x poolings
            raise PolymodalError(f"audio-cnn needs n_mels >= 16 and >= 16 frames, got {n_mels} x {frames}")
        self.seconds, self.sample_rate, self.n_mels = float(seconds), sample_rate, n_mels
        self.width, self.out_dim = width, out_dim
        self.blocks = conv_stack(1, [width, 2 * width, 4 * width, 4 * width])
        self.proj = nn.Linear(4 * width, out_dim)

    def loader(self) -> AudioLoader:
        return AudioLoader(sample_rate=self.sample_rate, seconds=self.seconds, n_mels=self.n_mels)

    def config(self) -> dict:
        return {"seconds": self.seconds, "sample_rate": self.sample_rate, "n_mels": self.n_mels,
                "width": self.width, "out_dim": self.out_dim}

    def last_blocks(self) -> nn.Module:
        return nn.ModuleList([self.blocks[-1], self.proj])

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        mean = x.mean(dim=(1, 2), keepdim=True)
        std = x.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)  # silence (a constant log-mel) stays finite
        grid = self.blocks(((x - mean) / std).unsqueeze(1))  # [B, C, n_mels/16, frames/16]
        tokens = self.proj(grid.mean(dim=2).transpose(1, 2))  # [B, T', out_dim]
        return EncoderOutput(tokens.mean(dim=1), tokens)


@register_encoder("audio-cnn", ["audio"], summary="CNN over the log-mel, from scratch; tokens over time")
def build_audio_cnn(seconds: float = 2.0, sample_rate: int = 16000, n_mels: int = 64, width: int = 32,
                    out_dim: int = 128) -> AudioCNN:
    return AudioCNN(seconds=seconds, sample_rate=sample_rate, n_mels=n_mels, width=width, out_dim=out_dim)
