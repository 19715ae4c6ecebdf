"""The gated fusion's factored gate: same function family, fewer parameters, old runs still load."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

import polymodal as pm
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


def test_a_run_saved_with_the_full_gate_still_loads(tmp_path):
    rng = torch.Generator().manual_seed(0)
    n = 60
    df = pd.DataFrame({"x1": torch.randn(n, generator=rng).tolist(), "x2": torch.randn(n, generator=rng).tolist(),
                       "y": ["p", "q"] * (n // 2)})
    p = pm.Predictor("y", fusion="gated", fusion_options={"gate_rank": 0}, epochs=2, baselines=False,
                     progress=False).fit(df, out=tmp_path / "run")
    # as an older polymodal wrote it: no gate_rank among the options, the full gate in the weights
    import json
    model_json = tmp_path / "run" / "model.json"
    cfg = json.loads(model_json.read_text())
    cfg["fusion_options"] = {}
    model_json.write_text(json.dumps(cfg))
    weights = load_file(str(tmp_path / "run" / "weights.safetensors"))
    assert "fusion.gate.weight" in weights
    save_file(weights, str(tmp_path / "run" / "weights.safetensors"))
    again = pm.load(tmp_path / "run")
    assert again.fusion_options == {"gate_rank": 0}
    pd.testing.assert_frame_equal(again.predict_proba(df), p.predict_proba(df))
