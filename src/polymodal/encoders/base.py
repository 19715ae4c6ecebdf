"""The encoder contract and registry.

An encoder takes what its loader produced for one modality of a batch (a
tensor `[B, ...]` for image/audio/video/numeric, a `list[str]` for
text/categorical) and returns `EncoderOutput(pooled [B, D], tokens [B, N, D] or
None)`. It declares `out_dim`, the `roles` it accepts, the `loader()` that
prepares its input, and a stable `id` (name + version + preprocessing) that
keys the feature cache.

Encoders that learn something from the training data before training (a
tokenizer, category vocabularies, numeric means) do it in `prepare(values)`
and return it from `config()`, so `build_encoder(name, **config)` rebuilds the
same module; weights travel separately in safetensors.

`id` covers the preprocessing, not the weights: caches of learned features (the feature cache,
exported ONNX graphs) add a hash of the weights to it. Optional hooks used by the ONNX Runtime
path: `onnx_inputs()` / `onnx_graph()` (see encoders/onnx_runtime.py).

Adding an encoder: one file with a subclass and `@register_encoder(...)` on
its builder, and one line in `_MODULES` below; the contract tests pick it up.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import PolymodalError
from ..registry import import_modules

MODES = ("frozen", "last", "full")  # frozen weights, fine-tune the last blocks, fine-tune everything


class EncoderOutput(NamedTuple):
    pooled: torch.Tensor  # [B, out_dim]
    tokens: torch.Tensor | None = None  # [B, N, out_dim] where the encoder has a sequence or grid


class Encoder(nn.Module):
    """Base class. Subclasses set `name`, `roles`, `out_dim` and implement `forward`."""

    name: str = ""
    roles: tuple[str, ...] = ()
    pretrained: bool = False
    version: str = "1"

    def __init__(self) -> None:
        super().__init__()
        self.out_dim = 0
        self.mode = "full"

    @property
    def id(self) -> str:
        """Stable identity of the function this encoder computes (feature-cache key)."""
        return f"{self.name}@{self.version}|{self.loader().id}"

    def loader(self) -> Any:
        """The data loader (see polymodal.data) that turns a cell into this encoder's input."""
        raise NotImplementedError

    def prepare(self, values: Sequence[Any]) -> None:
        """Learn data-dependent state (vocabularies, statistics) from training cells. Default: none."""

    def config(self) -> dict:
        """Flat, JSON-able arguments that rebuild this encoder with `build_encoder(name, **config)`."""
        return {}

    def set_mode(self, mode: str) -> Encoder:
        """frozen: no gradients, eval mode; last: only `last_blocks()` train; full: everything trains."""
        if mode not in MODES:
            raise PolymodalError(f"unknown encoder mode {mode!r}; valid: {', '.join(MODES)}")
        self.mode = mode
        for p in self.parameters():
            p.requires_grad_(mode == "full")
        if mode == "last":
            for p in self.last_blocks().parameters():
                p.requires_grad_(True)
        return self.train(self.training)  # re-apply train/eval per part for the new mode

    def last_blocks(self) -> nn.Module:
        """The part that `mode="last"` fine-tunes. Default: the whole encoder."""
        return self

    def train(self, mode: bool = True) -> Encoder:
        # Frozen parts stay in eval mode: their batch-norm statistics and dropout must not move.
        if not mode or self.mode == "frozen":
            return nn.Module.train(self, False)
        if self.mode == "last":
            nn.Module.train(self, False)
            nn.Module.train(self.last_blocks(), True)
            return self
        return nn.Module.train(self, True)

    def forward(self, x: Any) -> EncoderOutput:
        raise NotImplementedError


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    roles: tuple[str, ...]
    builder: Callable[..., Encoder]
    pretrained: bool
    summary: str


ENCODERS: dict[str, EncoderSpec] = {}
_MODULES = ("scratch_image", "scratch_text", "scratch_audio", "tabular", "mfcc", "efficientnet", "minilm", "hf",
            "efficientnet_grid", "mel_frames", "whisper", "whisper_asr", "frames",
            "table_group")


def register_encoder(name: str, roles: Sequence[str], *, pretrained: bool = False, summary: str = ""):
    """Decorator for a builder `(**flat_kwargs) -> Encoder`."""

    def wrap(builder: Callable[..., Encoder]) -> Callable[..., Encoder]:
        ENCODERS[name] = EncoderSpec(name, tuple(roles), builder, pretrained, summary or (builder.__doc__ or ""))
        return builder

    return wrap


def load_all() -> None:
    """Import every module of this registry so that each registers itself."""
    import_modules(__package__, _MODULES)


def build_encoder(name: str, **kwargs) -> Encoder:
    """Build a registered encoder. `hf:PATH` loads a local Hugging Face model folder."""
    load_all()
    if name.startswith("hf:"):
        kwargs.setdefault("path", name[3:])
        name = "hf"
    if name not in ENCODERS:
        raise PolymodalError(f"unknown encoder {name!r}; valid: {', '.join(sorted(ENCODERS))}, or hf:PATH")
    signature = inspect.signature(ENCODERS[name].builder)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:  # a misspelt option: say which encoder and what it takes
        raise PolymodalError(f"encoder {name!r}: {exc}; its options are: {', '.join(signature.parameters)}") from exc
    return ENCODERS[name].builder(**kwargs)


def encoders_state(encoders: dict[str, Encoder]) -> dict:
    """What a run directory's encoders.json holds: per column, how to rebuild its encoder."""
    return {c: {"name": e.name, "config": e.config(), "mode": e.mode, "out_dim": e.out_dim}
            for c, e in encoders.items()}


def encoders_from_state(state: dict) -> dict[str, Encoder]:
    """The encoders `encoders_state` described, rebuilt (weights, if any, are loaded by the caller)."""
    return {c: build_encoder(s["name"], **s["config"]).set_mode(s["mode"]) for c, s in state.items()}


def default_encoder(role: str, *, pretrained: bool = True) -> str:
    """The encoder used for a role when the user names none."""
    table = {"image": "efficientnet-lite0" if pretrained else "cnn", "text": "minilm" if pretrained else "gru",
             "audio": "mfcc" if pretrained else "audio-cnn",
             "video": "efficientnet-lite0-frames" if pretrained else "video-cnn", "numeric": "numeric",
             "categorical": "categorical", "tabular": "tabular"}
    if role not in table:
        raise PolymodalError(f"no encoder for role {role!r}")
    return table[role]
