"""The generative-model contract and registry.

A generative model is built from flat typed arguments: the output `shape` (`[C, H, W]` or
`[C, T, H, W]`), the text encoder ("minilm" or "gru" with its tokenizer JSON), `z_dim`,
`cond_dim`, `width`, plus its own options. It owns its objective, because a GAN's two
players and a VAE's evidence bound train differently:

- `optimizers(lr)` -> dict of named optimizers (their state is checkpointed by name);
- `train_step(batch, optimizers, step)` -> dict of float losses for the progress bar and
  the history (every model reports "loss", the number early epochs compare);
- `sample(cond, z)` -> outputs in [-1, 1], deterministic given `z` (eval mode);
- `end_epoch(cond)` (optional) -> after each epoch, with the training prompts' inputs;
- `conditional`: False for a model that ignores the prompt (the baseline).

`Batch` carries targets `x`, the text condition (MiniLM features `[B, 384]` or strings) and
integer `keys`: rows with equal keys share a prompt, so a "mismatched" prompt is never the same text.

Adding a model: one file with a subclass decorated `@register_model("name")` and one line in
`_MODULES`; the contract tests (tests/generation/test_models.py) pick it up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from ..errors import PolymodalError
from ..registry import import_modules, registrar

Cond = torch.Tensor | Sequence[str]


class Batch(NamedTuple):
    x: torch.Tensor
    cond: Cond
    keys: torch.Tensor


class GenerativeModel(nn.Module):
    name: str = ""
    conditional: bool = True

    def __init__(self, shape: tuple[int, ...], *, text_encoder: str = "minilm", tokenizer: str = "",
                 z_dim: int = 64, cond_dim: int = 128, width: int = 32):
        super().__init__()
        self.shape, self.text_encoder, self.tokenizer = tuple(int(s) for s in shape), text_encoder, tokenizer
        self.z_dim, self.cond_dim, self.width = int(z_dim), int(cond_dim), int(width)

    def optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], step: int) -> dict[str, float]:
        raise NotImplementedError

    def sample(self, cond: Cond, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def options(self) -> dict:
        """The model's own constructor options (besides the shared ones), for the run directory."""
        return {}

    def end_epoch(self, cond: Cond) -> None:
        """Called after every epoch with the training prompts' inputs (e.g. to refresh statistics)."""


def roll(cond: Cond, shift: int = 1) -> Cond:
    """The batch's prompts shifted by `shift` rows: each row gets another row's prompt."""
    if isinstance(cond, torch.Tensor):
        return cond.roll(shift, 0)
    cond = list(cond)
    return cond[-shift:] + cond[:-shift]


MODELS: dict[str, type[GenerativeModel]] = {}
_MODULES = ("cgan", "cvae", "cyclegan")


register_model = registrar(MODELS)  # @register_model(name) on a class registers it


def model_names() -> list[str]:
    import_modules(__package__, _MODULES)
    return sorted(MODELS)


def build_model(name: str, shape: tuple[int, ...], **kwargs) -> GenerativeModel:
    if name not in model_names():
        raise PolymodalError(f"unknown generative model {name!r}; valid: {', '.join(model_names())}")
    try:
        return MODELS[name](shape, **kwargs)
    except TypeError as exc:  # a misspelt option: say which model
        raise PolymodalError(f"generative model {name!r}: {exc}") from exc
