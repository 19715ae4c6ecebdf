"""The decoder contract, checked for every registered caption decoder."""

from __future__ import annotations

import pytest
import torch

from polymodal.captioning.decoder import build_decoder, decoder_names, select_state
from polymodal.captioning.model import CaptionModel
from polymodal.captioning.task import CaptionTask
from polymodal.errors import PolymodalError

NAMES = decoder_names()
VOCAB, HIDDEN = 13, 32


def make(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_decoder(name, VOCAB, HIDDEN, dropout=0.1, max_len=12).eval()


def test_registry_has_both_decoders_and_rejects_unknown_ones():
    assert {"gru", "transformer"} <= set(NAMES)
    with pytest.raises(PolymodalError, match="unknown caption decoder 'lstm'; valid: gru, transformer"):
        build_decoder("lstm", VOCAB, HIDDEN)
    with pytest.raises(PolymodalError, match="its options are"):
        build_decoder("gru", VOCAB, HIDDEN, layers=3)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_gradients(name: str):
    decoder = make(name).train()
    memory = torch.randn(3, 5, HIDDEN, requires_grad=True)
    logits = decoder(memory, torch.randint(0, VOCAB, (3, 7)))
    assert logits.shape == (3, 7, VOCAB)
    logits.sum().backward()
    assert memory.grad is not None and memory.grad.abs().sum() > 0
    assert all(p.grad is not None for n, p in decoder.named_parameters() if "position" not in n)


@pytest.mark.parametrize("name", NAMES)
def test_step_by_step_equals_teacher_forcing_and_is_causal(name: str):
    decoder = make(name)
    memory, ids = torch.randn(2, 4, HIDDEN), torch.randint(4, VOCAB, (2, 6))
    with torch.no_grad():
        full = decoder(memory, ids)
        state, steps = decoder.start(memory), []
        for t in range(ids.shape[1]):
            logits, state = decoder.step(state, ids[:, t])
            steps.append(logits)
        changed = ids.clone()
        changed[:, 4:] = (changed[:, 4:] + 1) % VOCAB
        later = decoder(memory, changed)
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)
    assert torch.allclose(later[:, :4], full[:, :4], atol=1e-6)  # position t never sees later tokens
    assert not torch.allclose(later[:, 4:], full[:, 4:])


@pytest.mark.parametrize("name", NAMES)
def test_state_rows_can_be_reordered(name: str):
    decoder = make(name)
    memory = torch.randn(3, 4, HIDDEN)
    with torch.no_grad():
        state = decoder.start(memory)
        _, state = decoder.step(state, torch.tensor([2, 2, 2]))
        order = torch.tensor([2, 0, 1])
        a, _ = decoder.step(select_state(state, order), torch.tensor([5, 6, 7]))
        b, _ = decoder.step(state, torch.tensor([6, 7, 5]))
    assert torch.allclose(a, b[order], atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output(name: str):
    memory, ids = torch.randn(2, 4, HIDDEN), torch.randint(0, VOCAB, (2, 5))
    with torch.no_grad():
        assert torch.equal(make(name, 3)(memory, ids), make(name, 3)(memory, ids))
        assert not torch.equal(make(name, 3)(memory, ids), make(name, 4)(memory, ids))


@pytest.mark.parametrize("name", NAMES)
def test_a_few_steps_of_training_lower_the_loss(name: str):
    """Tiny table: 8 inputs of 3 tokens, each with its own 5-token caption."""
    torch.manual_seed(0)
    feats = torch.randn(8, 3 * 10)
    ids = torch.cat([torch.full((8, 1), 2), torch.randint(4, VOCAB, (8, 4)), torch.full((8, 1), 3)], 1)
    model = CaptionModel(3, 10, VOCAB, decoder=name, hidden=HIDDEN, dropout=0.0, max_len=8)
    task, optimizer = CaptionTask(), torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = task.step(model({"feats": feats, "ids": ids}, {}), ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    out = model({"feats": feats, "ids": ids}, {})
    assert out["greedy"].shape == (8, 5) and out["logits"].shape == (8, 5, VOCAB)
