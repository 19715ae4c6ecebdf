"""The caption model: input tokens -> projection (+ learned token positions) -> a registered decoder.

Cached features arrive flattened, `[B, N * D]` (often float16); `memory` folds them back to
`[B, N, D]`, normalises each token and projects it to the decoder's width. Learned position
embeddings per token let the decoder tell a region on the left from one on the right, which
attention alone (a weighted sum) would not.

For the shared training loop `forward(inputs, masks)` takes {"feats", "ids"} and returns named
outputs: "logits" [B, T-1, V] (teacher forcing: ids[:, :-1] in, ids[:, 1:] predicted) and, in
eval mode, "greedy" [B, T-1] ids for the validation monitor.
"""

from __future__ import annotations

import torch
from torch import nn

from .decoder import build_decoder
from .search import greedy


class CaptionModel(nn.Module):
    def __init__(self, tokens: int, feat_dim: int, vocab_size: int, *, decoder: str = "gru", hidden: int = 256,
                 dropout: float = 0.1, max_len: int = 32, decoder_options: dict | None = None):
        super().__init__()
        self.tokens, self.feat_dim, self.vocab_size, self.max_len = tokens, feat_dim, vocab_size, max_len
        self.project = nn.Sequential(nn.LayerNorm(feat_dim), nn.Dropout(dropout), nn.Linear(feat_dim, hidden))
        self.position = nn.Parameter(torch.randn(tokens, hidden) * 0.02)
        self.decoder = build_decoder(decoder, vocab_size, hidden, dropout=dropout, max_len=max_len,
                                     **(decoder_options or {}))

    def memory(self, feats: torch.Tensor) -> torch.Tensor:
        """[B, N * D] or [B, N, D] features -> [B, N, hidden]."""
        x = feats.float().reshape(feats.shape[0], self.tokens, self.feat_dim)
        return self.project(x) + self.position

    def forward(self, inputs: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        memory = self.memory(inputs["feats"])
        ids = inputs["ids"]
        out = {"logits": self.decoder(memory, ids[:, :-1])}
        if not self.training:
            out["greedy"] = greedy(self.decoder, memory, ids.shape[1] - 1)
        return out
