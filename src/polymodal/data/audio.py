"""Audio loading: WAV/FLAC/OGG/MP3 (libsndfile) -> mono, resampled, fixed length, log-mel."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode to mono float32 at `sample_rate`. Channels are averaged; resampling uses soxr."""
    wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    wave = wave.mean(axis=1)
    if sr != sample_rate:
        import soxr

        wave = soxr.resample(wave, sr, sample_rate).astype(np.float32)
    return wave


def fix_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Crop to the first `n` samples or pad with silence at the end."""
    if len(wave) >= n:
        return wave[:n]
    return np.pad(wave, (0, n - len(wave)))


@lru_cache(maxsize=8)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)).float()


def log_mel(wave: np.ndarray | torch.Tensor, sample_rate: int = 16000, n_mels: int = 64,
            n_fft: int = 400, hop: int = 160) -> torch.Tensor:
    """Log-mel spectrogram [n_mels, frames] (25 ms windows, 10 ms hop at 16 kHz by default)."""
    x = torch.as_tensor(wave, dtype=torch.float32)
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop, window=torch.hann_window(n_fft),
                      center=True, return_complex=True).abs().pow(2)
    mel = _mel_filters(sample_rate, n_fft, n_mels) @ spec
    return torch.log(mel + 1e-6)


@dataclass(frozen=True)
class AudioLoader:
    """File -> log-mel tensor [n_mels, frames] over exactly `seconds` of audio."""

    sample_rate: int = 16000
    seconds: float = 2.0
    n_mels: int = 64
    n_fft: int = 400
    hop: int = 160

    @property
    def id(self) -> str:
        return f"audio:{self.sample_rate}:{self.seconds}:{self.n_mels}:{self.n_fft}:{self.hop}"

    @property
    def frames(self) -> int:
        return round(self.sample_rate * self.seconds) // self.hop + 1

    def __call__(self, path: str | Path) -> torch.Tensor:
        wave = fix_length(read_audio(path, self.sample_rate), round(self.sample_rate * self.seconds))
        return log_mel(wave, self.sample_rate, self.n_mels, self.n_fft, self.hop)

    def empty(self) -> torch.Tensor:
        return torch.zeros(self.n_mels, self.frames)
