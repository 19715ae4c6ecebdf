"""A fixed audio featuriser that keeps time: the log-mel spectrogram averaged into `frames`
equal slices, one token per slice, for decoders that attend over time (audio captioning).

Like `mfcc` it has nothing to learn, so its features are cached as a frozen pretrained
encoder's. The cache stores one row per clip, so `pooled` is the token sequence flattened
(`[B, frames*n_mels]`, time-major) and `tokens` is `[B, frames, n_mels]`; `token_shape`
says how to fold a cached row back. The averaging is one fixed matrix (adaptive average
pooling's bins), so the ONNX export is a plain MatMul.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.audio import AudioLoader
from ..errors import PolymodalError
from .base import Encoder, EncoderOutput, register_encoder


class MelFrames(Encoder):
    name = "mel-frames"
    roles = ("audio",)
    pretrained = True  # fixed: treated like a frozen pretrained encoder (features cached)
    cache_dtype = "float16"

    def __init__(self, *, frames: int = 24, n_mels: int = 64, seconds: float = 2.0, sample_rate: int = 16000):
        super().__init__()
        if int(frames) < 1:
            raise PolymodalError(f"mel-frames: frames must be at least 1, got {frames}")
        self.frames, self.n_mels, self.seconds, self.sample_rate = int(frames), int(n_mels), seconds, sample_rate
        self.token_shape = (self.frames, self.n_mels)
        self.out_dim = self.frames * self.n_mels
        self.mode = "frozen"
        steps = self.loader().frames
        basis = torch.eye(steps).reshape(steps, 1, steps)
        pool = F.adaptive_avg_pool1d(basis, self.frames).reshape(steps, self.frames).T.contiguous()
        self.register_buffer("pool", pool, persistent=False)  # [frames, steps]

    @property
    def id(self) -> str:
        return f"{super().id}|frames={self.frames}"

    def loader(self) -> AudioLoader:
        return AudioLoader(sample_rate=self.sample_rate, seconds=self.seconds, n_mels=self.n_mels)

    def config(self) -> dict:
        return {"frames": self.frames, "n_mels": self.n_mels, "seconds": self.seconds,
                "sample_rate": self.sample_rate}

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        tokens = torch.matmul(self.pool, x.transpose(1, 2))  # [B, frames, n_mels]
        return EncoderOutput(tokens.flatten(1), tokens)


@register_encoder("mel-frames", ["audio"], pretrained=True, summary="log-mel frames averaged into time tokens (fixed)")
def build_mel_frames(**kwargs) -> MelFrames:
    return MelFrames(**kwargs)
