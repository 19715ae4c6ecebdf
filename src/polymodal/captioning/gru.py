"""A GRU decoder with additive attention over the input tokens.

Additive ("Bahdanau") attention, Bahdanau, Cho & Bengio 2015: score_i = v^T tanh(W_q s + W_k m_i)
between the previous decoder state s and each input token m_i. As in "Show, Attend and Tell"
(Xu et al. 2015) the tokens are image regions (or audio frames), the initial state comes from
their mean, and a deep output layer reads the new state, the context and the previous word.
"""

from __future__ import annotations

import torch
from torch import nn

from .decoder import CaptionDecoder, State, register_decoder


class AdditiveAttention(nn.Module):
    def __init__(self, query_dim: int, key_dim: int, dim: int):
        super().__init__()
        self.query = nn.Linear(query_dim, dim, bias=False)
        self.key = nn.Linear(key_dim, dim)
        self.score = nn.Linear(dim, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """W_k m_i for every token, computed once per input rather than once per step."""
        return self.key(memory)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context [B, H] and weights [B, N]."""
        scores = self.score(torch.tanh(keys + self.query(query)[:, None, :])).squeeze(-1)
        weights = scores.softmax(-1)
        return torch.bmm(weights[:, None, :], memory).squeeze(1), weights


class GRUDecoder(CaptionDecoder):
    def __init__(self, vocab_size: int, hidden: int = 256, *, embed: int = 0, attention: int = 0,
                 dropout: float = 0.1, max_len: int = 64):
        super().__init__()
        embed, attention = embed or hidden, attention or hidden
        self.vocab_size, self.hidden, self.max_len = vocab_size, hidden, max_len
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.init_state = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
        self.attention = AdditiveAttention(hidden, hidden, attention)
        self.cell = nn.GRUCell(embed + hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.deep = nn.Sequential(nn.Linear(hidden + hidden + embed, hidden), nn.Tanh())
        self.out = nn.Linear(hidden, vocab_size)

    def start(self, memory: torch.Tensor) -> State:
        return {"h": self.init_state(memory.mean(1)), "memory": memory, "keys": self.attention.keys(memory)}

    def step(self, state: State, last: torch.Tensor) -> tuple[torch.Tensor, State]:
        word = self.drop(self.embed(last))
        context, _ = self.attention(state["h"], state["keys"], state["memory"])
        h = self.cell(torch.cat([word, context], -1), state["h"])
        logits = self.out(self.drop(self.deep(torch.cat([h, context, word], -1))))
        return logits, {**state, "h": h}

    def forward(self, memory: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        state, out = self.start(memory), []
        for t in range(ids.shape[1]):
            logits, state = self.step(state, ids[:, t])
            out.append(logits)
        return torch.stack(out, 1)


@register_decoder("gru")
def build_gru(vocab_size: int, hidden: int = 256, *, embed: int = 0, attention: int = 0, dropout: float = 0.1,
              max_len: int = 64) -> GRUDecoder:
    """GRU + additive attention (Bahdanau et al. 2015; Xu et al. 2015)."""
    return GRUDecoder(vocab_size, hidden, embed=embed, attention=attention, dropout=dropout, max_len=max_len)
