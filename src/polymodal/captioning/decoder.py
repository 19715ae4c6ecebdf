"""The caption decoder contract and its registry.

A decoder reads `memory` `[B, N, H]` (the projected input tokens) and caption ids `[B, T]`:

- `forward(memory, ids) -> logits [B, T, V]`: teacher forcing; position t predicts ids[:, t + 1]
  and sees only ids[:, :t + 1] (causal).
- `start(memory) -> state` and `step(state, last [B]) -> (logits [B, V], state)`: one token at a
  time for greedy and beam search. A state is a dict of tensors whose first axis is the batch,
  so search can reorder hypotheses with `select_state`. Feeding ids one by one through `step`
  gives the same logits as `forward` (the contract tests check it).

Adding a decoder: one file with a subclass and `@register_decoder("name")` on its builder
`(vocab_size, hidden, *, dropout, max_len, **flat options)`, and its module in `_MODULES`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from ..errors import PolymodalError
from ..registry import import_modules

State = dict[str, torch.Tensor]


class CaptionDecoder(nn.Module):
    vocab_size: int
    hidden: int

    def forward(self, memory: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def start(self, memory: torch.Tensor) -> State:
        raise NotImplementedError

    def step(self, state: State, last: torch.Tensor) -> tuple[torch.Tensor, State]:
        raise NotImplementedError


def select_state(state: State, index: torch.Tensor) -> State:
    """The rows `index` of every tensor in a decoder state (beam search reorders hypotheses)."""
    return {k: v.index_select(0, index) for k, v in state.items()}


DECODERS: dict[str, Callable[..., CaptionDecoder]] = {}
_MODULES = ("gru", "transformer")


def register_decoder(name: str):
    def wrap(builder: Callable[..., CaptionDecoder]) -> Callable[..., CaptionDecoder]:
        DECODERS[name] = builder
        return builder

    return wrap


def decoder_names() -> list[str]:
    import_modules(__package__, _MODULES)
    return sorted(DECODERS)


def build_decoder(name: str, vocab_size: int, hidden: int, **options) -> CaptionDecoder:
    """A registered decoder; unknown names and misspelt options get a clear error."""
    names = decoder_names()
    if name not in DECODERS:
        raise PolymodalError(f"unknown caption decoder {name!r}; valid: {', '.join(names)}")
    signature = inspect.signature(DECODERS[name])
    try:
        signature.bind(vocab_size, hidden, **options)
    except TypeError as exc:
        raise PolymodalError(f"caption decoder {name!r}: {exc}; its options are: "
                             f"{', '.join(list(signature.parameters)[2:])}") from exc
    return DECODERS[name](vocab_size, hidden, **options)
