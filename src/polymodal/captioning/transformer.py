"""A small transformer decoder (Vaswani et al. 2017): masked self-attention over the caption so
far, cross-attention to the input tokens, pre-norm blocks, learned positions.

Incremental decoding reruns the prefix at every step: captions are a few dozen tokens at most,
so a key/value cache would save little here and add a second code path to keep in step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import PolymodalError
from .decoder import CaptionDecoder, State, register_decoder


class TransformerDecoder(CaptionDecoder):
    def __init__(self, vocab_size: int, hidden: int = 256, *, layers: int = 2, heads: int = 4,
                 dropout: float = 0.1, max_len: int = 64):
        super().__init__()
        if hidden % heads:
            raise PolymodalError(f"transformer decoder: hidden ({hidden}) must be a multiple of heads ({heads})")
        self.vocab_size, self.hidden, self.max_len = vocab_size, hidden, max_len
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.position = nn.Embedding(max_len, hidden)
        self.drop = nn.Dropout(dropout)
        block = nn.TransformerDecoderLayer(hidden, heads, 4 * hidden, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerDecoder(block, layers)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, vocab_size)
        # word vectors of norm ~1 after the sqrt(hidden) scale, as with the paper's shared embeddings
        nn.init.normal_(self.embed.weight, std=hidden ** -0.5)
        nn.init.normal_(self.position.weight, std=0.02)
        with torch.no_grad():
            self.embed.weight[0].zero_()  # <pad> stays the zero vector, as padding_idx promises

    def forward(self, memory: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        steps = ids.shape[1]
        if steps > self.max_len:
            raise PolymodalError(f"caption of {steps} tokens is longer than this decoder's limit {self.max_len}")
        x = self.embed(ids) * math.sqrt(self.hidden) + self.position(torch.arange(steps, device=ids.device))
        causal = torch.triu(torch.full((steps, steps), float("-inf"), device=ids.device), diagonal=1)
        h = self.blocks(self.drop(x), memory, tgt_mask=causal, tgt_is_causal=True)
        return self.out(self.norm(h))

    def start(self, memory: torch.Tensor) -> State:
        return {"memory": memory, "ids": torch.empty(memory.shape[0], 0, dtype=torch.long, device=memory.device)}

    def step(self, state: State, last: torch.Tensor) -> tuple[torch.Tensor, State]:
        ids = torch.cat([state["ids"], last[:, None]], 1)
        return self.forward(state["memory"], ids)[:, -1], {"memory": state["memory"], "ids": ids}


@register_decoder("transformer")
def build_transformer(vocab_size: int, hidden: int = 256, *, layers: int = 2, heads: int = 4, dropout: float = 0.1,
                      max_len: int = 64) -> TransformerDecoder:
    """Pre-norm transformer decoder with cross-attention to the input tokens (Vaswani et al. 2017)."""
    return TransformerDecoder(vocab_size, hidden, layers=layers, heads=heads, dropout=dropout, max_len=max_len)
