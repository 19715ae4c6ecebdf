"""Text encoders trained from scratch over a tokenizer learned from the training text.

"gru": embedding + bidirectional GRU; "transformer-text": a small transformer
encoder with learned positions. Both learn their `Tokenizer` in `prepare(texts)`
and carry it, as JSON, in `config()`, so `build_encoder(name, **config)` maps
text to the same ids the weights were trained on.

An empty string is a normal input (an absent text, masked later by the
fusion): it encodes as `<bos> <eos>` and gives a finite vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..data.text import TextLoader
from ..errors import PolymodalError
from ..text.tokenizer import PAD_ID, Tokenizer
from .base import EncoderOutput, register_encoder
from .scratch_image import ScratchEncoder


class TokenEncoder(ScratchEncoder):
    """Shared part: the tokenizer, the token embedding, padded ids, masked mean pooling."""

    roles, version = ("text",), "1"

    def __init__(self, tokenizer: str, kind: str, vocab_size: int, min_frequency: int, max_len: int,
                 embed_dim: int) -> None:
        super().__init__()
        if max_len < 2:
            raise PolymodalError(f"{self.name}: max_len must be at least 2 (<bos> and <eos>), got {max_len}")
        self.tokenizer = Tokenizer.from_json(tokenizer) if tokenizer else Tokenizer(kind, vocab_size, min_frequency)
        self.max_len, self.embed_dim = max_len, embed_dim
        self.embed = nn.Embedding(self.tokenizer.vocab_size, embed_dim, padding_idx=PAD_ID)

    def loader(self) -> TextLoader:
        return TextLoader()

    def prepare(self, values: Sequence[Any]) -> None:
        """Learn the vocabulary from the training texts. A tokenizer already there (rebuilt from config) is kept."""
        if self.tokenizer.fitted:
            return
        self.tokenizer.fit(v for v in values if isinstance(v, str))
        device = self.embed.weight.device
        self.embed = nn.Embedding(self.tokenizer.vocab_size, self.embed_dim, padding_idx=PAD_ID).to(device)
        self.set_mode(self.mode)  # the new embedding follows the current mode

    def token_config(self) -> dict:
        tok = self.tokenizer
        return {"tokenizer": tok.to_json() if tok.fitted else "", "kind": tok.kind, "vocab_size": tok.vocab_max,
                "min_frequency": tok.min_frequency, "max_len": self.max_len}

    def ids(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ids [B, T] and mask [B, T] on this module's device."""
        if not self.tokenizer.fitted:
            raise PolymodalError(f"{self.name}: call prepare(texts) with the training texts before encoding")
        if isinstance(texts, str):
            raise PolymodalError(f"{self.name} takes a list of strings (one per row), not one string")
        ids, mask = self.tokenizer.encode_batch(list(texts), max_len=self.max_len)
        device = self.embed.weight.device
        return ids.to(device), mask.to(device)

    @staticmethod
    def pool(tokens: torch.Tensor, mask: torch.Tensor) -> EncoderOutput:
        """Zero the padding positions and average the rest."""
        tokens = tokens * mask.unsqueeze(-1)
        pooled = tokens.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp_min(1)
        return EncoderOutput(pooled, tokens)


class GRUText(TokenEncoder):
    """Embedding -> bidirectional GRU -> linear projection of every position."""

    name = "gru"

    def __init__(self, tokenizer: str = "", kind: str = "word", vocab_size: int = 8000, min_frequency: int = 1,
                 max_len: int = 64, embed_dim: int = 64, hidden: int = 64, out_dim: int = 128) -> None:
        super().__init__(tokenizer, kind, vocab_size, min_frequency, max_len, embed_dim)
        self.hidden, self.out_dim = hidden, out_dim
        self.gru = nn.GRU(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, out_dim)

    def config(self) -> dict:
        return {**self.token_config(), "embed_dim": self.embed_dim, "hidden": self.hidden, "out_dim": self.out_dim}

    def last_blocks(self) -> nn.Module:
        return nn.ModuleList([self.gru, self.proj])  # everything but the embedding

    def forward(self, texts: Sequence[str]) -> EncoderOutput:
        ids, mask = self.ids(texts)
        lengths = mask.sum(dim=1).cpu()  # >= 2: <bos> and <eos> are always there
        # Packing keeps the backward direction from reading the padding first.
        packed = pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=ids.shape[1])
        return self.pool(self.proj(out), mask)


class TransformerText(TokenEncoder):
    """Token + learned position embeddings -> pre-norm transformer encoder -> linear projection."""

    name = "transformer-text"

    def __init__(self, tokenizer: str = "", kind: str = "word", vocab_size: int = 8000, min_frequency: int = 1,
                 max_len: int = 64, dim: int = 64, heads: int = 4, layers: int = 2, out_dim: int = 128,
                 dropout: float = 0.1) -> None:
        super().__init__(tokenizer, kind, vocab_size, min_frequency, max_len, dim)
        self.heads, self.layers, self.out_dim, self.dropout = heads, layers, out_dim, dropout
        self.pos = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, out_dim)

    def config(self) -> dict:
        return {**self.token_config(), "dim": self.embed_dim, "heads": self.heads, "layers": self.layers,
                "out_dim": self.out_dim, "dropout": self.dropout}

    def last_blocks(self) -> nn.Module:
        return nn.ModuleList([self.encoder.layers[-1], self.norm, self.proj])

    def forward(self, texts: Sequence[str]) -> EncoderOutput:
        ids, mask = self.ids(texts)
        x = self.embed(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        h = self.norm(self.encoder(x, src_key_padding_mask=~mask))
        return self.pool(self.proj(h), mask)


@register_encoder("gru", ["text"], summary="bidirectional GRU over a learned tokenizer, from scratch")
def build_gru(tokenizer: str = "", kind: str = "word", vocab_size: int = 8000, min_frequency: int = 1,
              max_len: int = 64, embed_dim: int = 64, hidden: int = 64, out_dim: int = 128) -> GRUText:
    return GRUText(tokenizer=tokenizer, kind=kind, vocab_size=vocab_size, min_frequency=min_frequency,
                   max_len=max_len, embed_dim=embed_dim, hidden=hidden, out_dim=out_dim)


@register_encoder("transformer-text", ["text"], summary="2-layer transformer over a learned tokenizer, from scratch")
def build_transformer_text(tokenizer: str = "", kind: str = "word", vocab_size: int = 8000, min_frequency: int = 1,
                           max_len: int = 64, dim: int = 64, heads: int = 4, layers: int = 2, out_dim: int = 128,
                           dropout: float = 0.1) -> TransformerText:
    return TransformerText(tokenizer=tokenizer, kind=kind, vocab_size=vocab_size, min_frequency=min_frequency,
                           max_len=max_len, dim=dim, heads=heads, layers=layers, out_dim=out_dim, dropout=dropout)
