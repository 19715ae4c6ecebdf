"""A fixed audio featuriser: MFCC statistics over time, in the tradition of utterance-level
"functionals" (e.g. openSMILE; Eyben et al. 2010). No parameters to train, so its features are
cached like a frozen pretrained encoder's, which keeps audio fast on a CPU. MFCCs are the DCT of
the log-mel spectrogram (Davis & Mermelstein 1980).

Features per clip (n = n_mfcc): mean and std of the MFCCs and of their deltas (4n), plus the
mean MFCC over each of `segments` equal time slices (segments * n), which keeps the coarse
order of sounds (what distinguishes "six" from "seven"). Silence at the end (padding) is
excluded from the statistics.
"""

from __future__ import annotations

import math

import torch

from ..data.audio import AudioLoader
from .base import Encoder, EncoderOutput, register_encoder


def dct_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """Orthonormal DCT-II basis [n_out, n_in]."""
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    n = torch.arange(n_in, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi / n_in * (n + 0.5) * k) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis.float()


class MFCCStats(Encoder):
    name = "mfcc"
    roles = ("audio",)
    pretrained = True  # nothing to learn: treated like a frozen pretrained encoder (features cached)

    def __init__(self, *, n_mfcc: int = 20, segments: int = 3, n_mels: int = 64, seconds: float = 2.0,
                 sample_rate: int = 16000):
        super().__init__()
        self.n_mfcc, self.segments, self.n_mels = n_mfcc, segments, n_mels
        self.seconds, self.sample_rate = seconds, sample_rate
        self.register_buffer("dct", dct_matrix(n_mels, n_mfcc), persistent=False)
        self.out_dim = n_mfcc * (4 + segments)
        self.mode = "frozen"

    def loader(self) -> AudioLoader:
        return AudioLoader(sample_rate=self.sample_rate, seconds=self.seconds, n_mels=self.n_mels)

    def config(self) -> dict:
        return {"n_mfcc": self.n_mfcc, "segments": self.segments, "n_mels": self.n_mels, "seconds": self.seconds,
                "sample_rate": self.sample_rate}

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        mfcc = torch.einsum("km,bmt->bkt", self.dct, x)  # [B, n_mfcc, T]
        energy = x.mean(1)  # [B, T]
        voiced = energy > (energy.amax(1, keepdim=True) - 8.0)  # frames within ~35 dB of the loudest
        w = voiced.float()[:, None, :]
        mean, std = _weighted_stats(mfcc, w)
        delta = torch.cat([torch.zeros_like(mfcc[..., :1]), mfcc[..., 1:] - mfcc[..., :-1]], dim=-1)
        d_mean, d_std = _weighted_stats(delta, w)
        segments = torch.einsum("bkt,bst->bsk", mfcc, self._segment_weights(voiced)).flatten(1)
        return EncoderOutput(torch.cat([mean, std, d_mean, d_std, segments], dim=1), None)

    def _segment_weights(self, voiced: torch.Tensor) -> torch.Tensor:
        """[B, segments, T] averaging weights over equal slices of each clip's voiced span."""
        frames = voiced.shape[1]
        t = torch.arange(frames, dtype=torch.float32)[None, :]
        first = torch.where(voiced, t, torch.full_like(t, frames)).amin(1, keepdim=True)
        last = torch.where(voiced, t, torch.full_like(t, -1)).amax(1, keepdim=True) + 1
        first, last = torch.minimum(first, last - 1).clamp_min(0), last.clamp_min(1)
        pos = ((t - first) / (last - first).clamp_min(1) * self.segments).floor()  # segment index per frame
        inside = (t >= first) & (t < last)
        onehot = (pos[:, None, :] == torch.arange(self.segments, dtype=torch.float32)[None, :, None]) & inside[:, None]
        weights = onehot.float()
        return weights / weights.sum(-1, keepdim=True).clamp_min(1.0)


def _weighted_stats(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    count = w.sum(-1).clamp_min(1.0)
    mean = (x * w).sum(-1) / count
    std = (((x - mean[..., None]) ** 2 * w).sum(-1) / count).clamp_min(1e-8).sqrt()
    return mean, std


@register_encoder("mfcc", ["audio"], pretrained=True, summary="MFCC statistics (fixed, no training)")
def build_mfcc(**kwargs) -> MFCCStats:
    return MFCCStats(**kwargs)
