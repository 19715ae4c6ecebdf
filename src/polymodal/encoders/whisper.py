"""`whisper`: Whisper tiny.en's encoder states (384-d), mean-pooled over the frames of the real audio.

Whisper's encoder always reads a 30 s window; a 1 s clip is 97% padding, whose states would
swamp a plain mean, so only the states that cover the clip count (the encoder halves the time
axis: state j covers mel frames 2j and 2j+1). No weights live in PyTorch (CTranslate2 runs the
model), so nothing can train: like `mfcc`, the features are fixed and cached.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Encoder, EncoderOutput, register_encoder
from .whisper_model import WhisperMel, check_compute_type, load_whisper, model_name, split_mask, storage_view


def pool_states(states: np.ndarray, frames: torch.Tensor) -> torch.Tensor:
    """Mean of `states [B, T, D]` over each row's first ceil(frames / 2) states; zeros for an empty row."""
    counts = ((frames + 1) // 2).clamp(max=states.shape[1])
    t = torch.arange(states.shape[1])[None, :]
    weights = (t < counts[:, None]).float()
    weights = weights / weights.sum(1, keepdim=True).clamp_min(1.0)
    return torch.einsum("bt,btd->bd", weights, torch.from_numpy(states))


class WhisperStates(Encoder):
    name = "whisper"
    roles = ("audio",)
    pretrained = True  # fixed weights: features are cached
    exports = False  # CTranslate2, not a torch graph (encoders/onnx_runtime.py)
    version = "1"

    def __init__(self, *, compute_type: str = "float32"):
        super().__init__()
        self.compute_type = check_compute_type(compute_type)
        self.model = load_whisper(compute_type)
        self.out_dim = 384  # tiny's width
        self.mode = "frozen"

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}|{self.loader().id}|{model_name()}|{self.compute_type}"

    def loader(self) -> WhisperMel:
        return WhisperMel()

    def config(self) -> dict:
        return {"compute_type": self.compute_type}

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        mel, frames = split_mask(x)
        view, _array = storage_view(mel)  # _array: the memory the view reads, alive until encode returns
        states = np.array(self.model.model.encode(view, to_cpu=True), dtype=np.float32)
        return EncoderOutput(pool_states(states, frames), None)


@register_encoder("whisper", ["audio"], pretrained=True,
                  summary="Whisper tiny.en encoder states over the real audio, mean-pooled, 384-d "
                          "(needs polymodal[speech])")
def build_whisper(compute_type: str = "float32") -> WhisperStates:
    return WhisperStates(compute_type=compute_type)
