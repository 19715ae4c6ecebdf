"""Decoding: greedy and beam search with a length penalty.

Beam search keeps the `beam_size` best prefixes by log-probability. A prefix that emits
`<eos>` (or reaches `max_len` tokens) is finished and scored by its log-probability divided
by GNMT's length penalty lp(L) = ((5 + L) / 6) ** alpha (Wu et al. 2016, "Google's Neural
Machine Translation System"), where L counts the generated tokens, `<eos>` included; alpha = 0
is plain log-probability, larger alpha favours longer captions. The best finished caption is
returned. A row stops early once no live prefix can still beat its best finished caption:
log-probabilities only fall as a prefix grows, and lp grows with length, so a live prefix's
best possible score is its log-probability divided by lp(max_len).

`<pad>` and `<bos>` are never generated, and `<eos>` not first: a caption has at least one token.
Both functions work on a batch of inputs at once.
"""

from __future__ import annotations

import torch

from ..text.tokenizer import BOS_ID, EOS_ID, PAD_ID
from .decoder import CaptionDecoder, select_state

NEVER = (PAD_ID, BOS_ID)


def length_penalty(length: int, alpha: float) -> float:
    return ((5.0 + length) / 6.0) ** alpha


def _log_probs(logits: torch.Tensor, step: int) -> torch.Tensor:
    """Log-probabilities of the tokens allowed at `step` (1-based)."""
    logits = logits.float().clone()
    logits[:, list(NEVER) if step > 1 else [*NEVER, EOS_ID]] = float("-inf")
    return logits.log_softmax(-1)


@torch.inference_mode()
def greedy(decoder: CaptionDecoder, memory: torch.Tensor, max_len: int) -> torch.Tensor:
    """Ids [B, max_len]: the most likely token at each step, `<eos>` included, `<pad>` after it."""
    batch = memory.shape[0]
    state = decoder.start(memory)
    last = torch.full((batch,), BOS_ID, dtype=torch.long, device=memory.device)
    done = torch.zeros(batch, dtype=torch.bool, device=memory.device)
    out = torch.full((batch, max_len), PAD_ID, dtype=torch.long, device=memory.device)
    for t in range(max_len):
        logits, state = decoder.step(state, last)
        token = _log_probs(logits, t + 1).argmax(-1).masked_fill(done, PAD_ID)
        out[:, t] = token
        done |= token == EOS_ID
        last = token
        if bool(done.all()):
            break
    return out


@torch.inference_mode()
def beam_search(decoder: CaptionDecoder, memory: torch.Tensor, *, beam_size: int = 3, max_len: int = 20,
                alpha: float = 0.6) -> list[list[int]]:
    """The best caption of each input (ids without `<bos>`/`<eos>`), by log P / lp(length)."""
    batch, k = memory.shape[0], max(1, int(beam_size))
    state = decoder.start(memory.repeat_interleave(k, 0))
    scores = torch.full((batch, k), float("-inf"), device=memory.device)
    scores[:, 0] = 0.0  # every beam starts identical: expand only the first
    prefixes = torch.empty(batch * k, 0, dtype=torch.long, device=memory.device)
    last = torch.full((batch * k,), BOS_ID, dtype=torch.long, device=memory.device)
    best: list[tuple[float, list[int]] | None] = [None] * batch
    ceiling = length_penalty(max_len, alpha)
    for t in range(1, max_len + 1):
        logits, state = decoder.step(state, last)
        logp = _log_probs(logits, t)
        vocab = logp.shape[1]
        top, index = (scores.reshape(-1, 1) + logp).reshape(batch, k * vocab).topk(min(2 * k, k * vocab), dim=1)
        origin, token = index // vocab, index % vocab
        ends = token == EOS_ID if t < max_len else torch.ones_like(token, dtype=torch.bool)
        _finish(best, prefixes, top, origin, token, ends, k, length_penalty(t, alpha))
        if t == max_len:
            break
        live, pick = top.masked_fill(ends, float("-inf")).topk(k, dim=1)
        for b in range(batch):  # stop rows whose best finished caption no live prefix can beat
            if best[b] is not None and float(live[b, 0]) / ceiling <= best[b][0]:
                live[b] = float("-inf")
        if not bool(torch.isfinite(live).any()):
            break
        rows = (torch.arange(batch, device=memory.device)[:, None] * k + origin.gather(1, pick)).reshape(-1)
        chosen = token.gather(1, pick).reshape(-1)
        prefixes = torch.cat([prefixes.index_select(0, rows), chosen[:, None]], 1)
        state, scores, last = select_state(state, rows), live, chosen
    return [[] if b is None else b[1] for b in best]


def _finish(best: list, prefixes: torch.Tensor, top: torch.Tensor, origin: torch.Tensor, token: torch.Tensor,
            ends: torch.Tensor, k: int, penalty: float) -> None:
    """Score the candidates that end here and keep each row's best."""
    for b, j in (ends & torch.isfinite(top)).nonzero().tolist():
        score = float(top[b, j]) / penalty
        if best[b] is None or score > best[b][0]:
            ids = prefixes[b * k + int(origin[b, j])].tolist()
            tok = int(token[b, j])
            best[b] = (score, ids if tok == EOS_ID else [*ids, tok])


def strip(ids) -> list[int]:
    """Generated or reference ids up to `<eos>`, without `<bos>`/`<pad>`."""
    out = []
    for i in ids.tolist() if isinstance(ids, torch.Tensor) else ids:
        if i == EOS_ID:
            break
        if i not in (PAD_ID, BOS_ID):
            out.append(int(i))
    return out

