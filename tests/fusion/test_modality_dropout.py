"""modality_dropout: hides present modalities at rate p, never empties a row that had one."""

from __future__ import annotations

import pytest
import torch

from polymodal.fusion import modality_dropout


def random_masks(rows: int, names: str = "abc", seed: int = 0, p_present: float = 0.7):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.rand(rows, generator=g) < p_present for m in names}


def stacked(masks):
    return torch.stack([masks[m] for m in sorted(masks)], 1)


@pytest.mark.parametrize("p", [0.3, 0.9, 1.0])
def test_never_empties_a_row_and_never_adds_a_modality(p):
    before = random_masks(5000)
    after = modality_dropout(before, p, torch.Generator().manual_seed(1))
    b, a = stacked(before), stacked(after)
    assert sorted(after) == sorted(before)
    assert not (a & ~b).any()  # only hides; never turns an absent modality on
    assert torch.equal(a.any(1), b.any(1))  # a row with something keeps something; empty rows stay empty
    if p == 1.0:
        assert (a.sum(1) == b.any(1).long()).all()  # exactly one survivor per non-empty row


def test_rate_matches_p_on_a_large_batch():
    """All 3 present, p = 0.3: each is hidden with p, but a row that lost all three (p^3) gets one
    back, so the expected hidden share is p - p^3 / 3 = 0.291."""
    rows, p = 200_000, 0.3
    full = {m: torch.ones(rows, dtype=torch.bool) for m in "abc"}
    after = stacked(modality_dropout(full, p, torch.Generator().manual_seed(2)))
    hidden_share = 1 - after.float().mean().item()
    assert abs(hidden_share - (p - p**3 / 3)) < 0.004
    many = {m: torch.ones(50_000, dtype=torch.bool) for m in "abcdefgh"}  # p^8 is negligible
    assert abs(1 - stacked(modality_dropout(many, p)).float().mean().item() - p) < 0.005


def test_restored_modality_is_chosen_uniformly():
    full = {m: torch.ones(60_000, dtype=torch.bool) for m in "abc"}
    after = stacked(modality_dropout(full, 1.0, torch.Generator().manual_seed(3)))
    shares = after.float().mean(0)
    assert torch.allclose(shares, torch.full((3,), 1 / 3), atol=0.01)


def test_p_zero_returns_the_masks_unchanged():
    masks = random_masks(100)
    assert modality_dropout(masks, 0.0) is masks


def test_same_generator_seed_same_result():
    masks = random_masks(1000)
    first = modality_dropout(masks, 0.5, torch.Generator().manual_seed(4))
    second = modality_dropout(masks, 0.5, torch.Generator().manual_seed(4))
    assert all(torch.equal(first[m], second[m]) for m in masks)
    other = modality_dropout(masks, 0.5, torch.Generator().manual_seed(5))
    assert not all(torch.equal(first[m], other[m]) for m in masks)


def test_accepts_integer_masks():
    masks = {m: x.long() for m, x in random_masks(500).items()}
    after = modality_dropout(masks, 0.5, torch.Generator().manual_seed(6))
    assert all(after[m].dtype == torch.bool for m in after)
    assert torch.equal(stacked(after).any(1), stacked(masks).bool().any(1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_masks_on_the_gpu_with_a_cpu_generator():
    masks = {m: x.cuda() for m, x in random_masks(500).items()}
    for generator in (None, torch.Generator().manual_seed(7)):
        after = modality_dropout(masks, 0.5, generator)
        assert all(after[m].device == masks[m].device for m in masks)
        assert torch.equal(stacked(after).any(1), stacked(masks).any(1))


def test_the_model_hides_modalities_only_while_training():
    """MultimodalModel applies modality dropout to its masks in train mode, never in eval mode."""
    from polymodal.predict.model import MultimodalModel

    seen = []

    class Recorder(torch.nn.Module):
        uses_tokens, output_is_logits, out_dim = False, False, 4

        def forward(self, feats, masks):
            seen.append({m: v.clone() for m, v in masks.items()})
            return torch.zeros(len(masks["a"]), 4)

    model = MultimodalModel({}, {"a": 3, "b": 3}, Recorder(), 2, modality_dropout=0.5)
    inputs = {m: torch.randn(2000, 3) for m in "ab"}
    masks = {m: torch.ones(2000, dtype=torch.bool) for m in "ab"}
    model.train()
    torch.manual_seed(0)
    model(inputs, masks)
    hidden = 1 - torch.stack([seen[-1]["a"], seen[-1]["b"]]).float().mean().item()
    assert 0.3 < hidden < 0.45  # p - p^2/2 = 0.375 for two modalities at p = 0.5
    model.eval()
    model(inputs, masks)
    assert all(v.all() for v in seen[-1].values())
