"""Greedy and beam search against exhaustive search on a small hand-built decoder."""

from __future__ import annotations

import itertools

import pytest
import torch

from polymodal.captioning.decoder import CaptionDecoder
from polymodal.captioning.search import NEVER, beam_search, greedy, length_penalty, strip
from polymodal.text.tokenizer import BOS_ID, EOS_ID, PAD_ID

VOCAB = 6  # <pad> <unk> <bos> <eos> and two words: searchable ids are 1, 3, 4, 5


class TableDecoder(CaptionDecoder):
    """Logits from fixed random tables, depending on the step, the last token, the whole prefix (its sum)
    and the input (memory), so that greedy, beam and exhaustive search can disagree."""

    def __init__(self, seed: int, max_len: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.by_step = torch.randn(max_len + 1, VOCAB, VOCAB, generator=g) * 2
        self.by_prefix = torch.randn(11, VOCAB, generator=g)
        self.by_input = torch.randn(VOCAB, generator=g)

    def start(self, memory):
        return {"memory": memory, "prefix": torch.empty(len(memory), 0, dtype=torch.long)}

    def step(self, state, last):
        prefix = torch.cat([state["prefix"], last[:, None]], 1)
        logits = (self.by_step[prefix.shape[1], last] + self.by_prefix[prefix.sum(1) % 11]
                  + state["memory"][:, 0, :1] * self.by_input)
        return logits, {"memory": state["memory"], "prefix": prefix}


def log_prob(decoder: TableDecoder, memory: torch.Tensor, seq: list[int]) -> float:
    """Log-probability of one token sequence (<eos> included where it has one), step by step."""
    state, last, total = decoder.start(memory), torch.tensor([BOS_ID]), 0.0
    for t, token in enumerate(seq):
        logits, state = decoder.step(state, last)
        logits[:, list(NEVER) + ([EOS_ID] if t == 0 else [])] = float("-inf")
        total += float(logits.log_softmax(-1)[0, token])
        last = torch.tensor([token])
    return total


def exhaustive(decoder: TableDecoder, memory: torch.Tensor, max_len: int, alpha: float) -> list[int]:
    """Score every caption the decoder can produce (ending in <eos>, or cut at max_len) one by one."""
    words = [i for i in range(VOCAB) if i not in NEVER]
    best, best_ids = float("-inf"), None
    for length in range(1, max_len + 1):
        for ids in itertools.product(words, repeat=length):
            if EOS_ID in ids[:-1] or (length < max_len and ids[-1] != EOS_ID) or ids[0] == EOS_ID:
                continue  # <eos> only at the end, never first; without it only at max_len
            score = log_prob(decoder, memory, list(ids)) / length_penalty(length, alpha)
            if score > best:
                best, best_ids = score, [i for i in ids if i != EOS_ID]
    return best_ids


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_finds_the_highest_scoring_caption(seed: int, alpha: float):
    max_len = 4
    decoder = TableDecoder(seed, max_len)
    memory = torch.tensor([[[0.0]], [[1.5]], [[-2.0]]])
    # 4 tokens can follow each prefix; 27 live prefixes at most: a beam of 32 keeps every one
    found = beam_search(decoder, memory, beam_size=32, max_len=max_len, alpha=alpha)
    assert found == [exhaustive(decoder, memory[i:i + 1], max_len, alpha) for i in range(len(memory))]


def test_beam_beats_greedy_where_greedy_is_short_sighted():
    """Among seeds, some make greedy's caption score below beam search's; beam never scores worse."""
    max_len, better = 4, 0
    for seed in range(12):
        decoder = TableDecoder(seed, max_len)
        memory = torch.zeros(1, 1, 1)
        beam = beam_search(decoder, memory, beam_size=32, max_len=max_len, alpha=0.0)[0]
        ids = strip(greedy(decoder, memory, max_len)[0])
        greedy_score, beam_score = _logp(decoder, memory, ids, max_len), _logp(decoder, memory, beam, max_len)
        assert beam_score >= greedy_score - 1e-6
        better += beam_score > greedy_score + 1e-6
    assert better > 0


def _logp(decoder, memory, ids, max_len):
    return log_prob(decoder, memory, ids + ([EOS_ID] if len(ids) < max_len else []))


def test_greedy_pads_after_eos_and_never_emits_pad_or_bos():
    decoder = TableDecoder(3, 6)
    decoder.by_step[1, BOS_ID, EOS_ID] = 100.0  # the model wants an empty caption: it gets one word at least
    out = greedy(decoder, torch.randn(5, 1, 1), 6)
    assert out.shape == (5, 6) and (out[:, 0] != EOS_ID).all()
    for row in out.tolist():
        assert BOS_ID not in row
        if EOS_ID in row:
            assert all(t == PAD_ID for t in row[row.index(EOS_ID) + 1:])
        else:
            assert PAD_ID not in row


def test_length_penalty_is_gnmt():
    assert length_penalty(1, 0.6) == 1.0
    assert length_penalty(7, 0.5) == pytest.approx(2 ** 0.5)
    assert length_penalty(9, 0.0) == 1.0


def test_strip_drops_specials_and_stops_at_eos():
    assert strip(torch.tensor([BOS_ID, 7, 8, EOS_ID, 9, PAD_ID])) == [7, 8]


@pytest.mark.parametrize("beam", [1, 2, 3])
def test_a_batch_searches_like_its_rows_one_by_one(beam: int):
    decoder = TableDecoder(5, 5)
    memory = torch.randn(6, 1, 1)
    batched = beam_search(decoder, memory, beam_size=beam, max_len=5, alpha=0.6)
    assert batched == [beam_search(decoder, memory[i:i + 1], beam_size=beam, max_len=5, alpha=0.6)[0]
                       for i in range(len(memory))]
