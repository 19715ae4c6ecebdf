"""The gated fusion's factored gate: a rank-limited gate map, the full one on request."""

from __future__ import annotations

import pytest
import torch

from polymodal.errors import PolymodalError
from polymodal.fusion import build_fusion

DIMS = {"a": 6, "b": 5, "c": 4}


def test_the_gate_is_factored_by_default_and_full_on_request():
    low = build_fusion("gated", in_dims=DIMS, out_dim=3, hidden=8)
    full = build_fusion("gated", in_dims=DIMS, out_dim=3, hidden=8, gate_rank=0)
    assert [tuple(p.shape) for p in low.gate.parameters()] == [(64, 27), (24, 64), (24,)]
    assert [tuple(p.shape) for p in full.gate.parameters()] == [(24, 27), (24,)]
    small = build_fusion("gated", in_dims=DIMS, out_dim=3, hidden=8, gate_rank=2)
    g = torch.Generator().manual_seed(0)
    feats = {m: torch.randn(5, d, generator=g) for m, d in DIMS.items()}
    masks = {m: torch.ones(5, dtype=torch.bool) for m in DIMS}
    x = torch.cat([torch.stack([p(feats[m]) for m, p in zip(small.modalities, small.proj, strict=True)], 1)
                   .flatten(1), torch.ones(5, 3)], 1)
    assert torch.linalg.matrix_rank(small.gate[1].weight @ small.gate[0].weight) <= 2
    assert small.gate(x).shape == (5, 24) and small(feats, masks).shape == (5, 3)


@pytest.mark.parametrize("bad", [-3, 2.5, "64", True])
def test_a_bad_rank_is_a_clear_error(bad):
    with pytest.raises(PolymodalError, match="gate_rank must be a whole number >= 0"):
        build_fusion("gated", in_dims=DIMS, out_dim=3, gate_rank=bad)
