"""Runs saved before a fusion's default changed (gated: full gate; attention: 128-wide tokens) still load:
the run recorded no value for the new option, and the fusion reads it back from the saved weights."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

import polymodal as pm
from polymodal.errors import PolymodalError
from polymodal.fusion import build_fusion
from polymodal.fusion.base import options_for_weights

# fusion -> (the option as an older polymodal built it, a weight only that shape has, its expected shape)
OLDER = {"gated": ({"gate_rank": 0}, "gate.weight", None), "attention": ({"width": 0}, "query", (8,))}


@pytest.mark.parametrize("fusion", sorted(OLDER))
def test_a_run_saved_with_an_older_default_still_loads(fusion, tmp_path):
    old_options, key, shape = OLDER[fusion]
    rng = torch.Generator().manual_seed(0)
    n = 60
    df = pd.DataFrame({"x1": torch.randn(n, generator=rng).tolist(), "x2": torch.randn(n, generator=rng).tolist(),
                       "y": ["p", "q"] * (n // 2)})
    # classical="none": the saved model must be the fusion whose options are under test (LightGBM reads these
    # numbers too, and an ensemble with it could be saved instead)
    p = pm.Predictor("y", fusion=fusion, fusion_options=old_options, hidden=8, epochs=2, baselines=False,
                     classical="none", progress=False).fit(df, out=tmp_path / "run")
    model_json = tmp_path / "run" / "model.json"
    cfg = json.loads(model_json.read_text())
    cfg["fusion_options"] = {}  # as the older polymodal recorded it: nothing about an option it did not have
    model_json.write_text(json.dumps(cfg))
    again = pm.load(tmp_path / "run")
    weights = again.model_.fusion.state_dict()
    assert key in weights and (shape is None or tuple(weights[key].shape) == shape)
    assert again.model_options_ == ({"width": 8} if fusion == "attention" else old_options)
    assert again.fusion_options == old_options  # what the fit was given, as polymodal.json recorded it
    pd.testing.assert_frame_equal(again.predict_proba(df), p.predict_proba(df))


def test_todays_defaults_read_back_as_themselves():
    for name in ("gated", "attention", "concat"):
        fusion = build_fusion(name, in_dims={"a": 5, "b": 3}, out_dim=4, hidden=16)
        weights = {f"fusion.{k}": v for k, v in fusion.state_dict().items()}
        options = options_for_weights(name, weights, {})
        rebuilt = build_fusion(name, in_dims={"a": 5, "b": 3}, out_dim=4, hidden=16, **options)
        rebuilt.load_state_dict(fusion.state_dict())  # same shapes


def test_attention_width_is_the_tokens_width():
    f = build_fusion("attention", in_dims={"a": 5, "b": 3}, out_dim=4, hidden=128)
    assert f.query.shape == (64,) and f.out[-1].in_features == 64 and f.out[-1].out_features == 4
    assert build_fusion("attention", in_dims={"a": 5}, out_dim=4, hidden=32, width=0).query.shape == (32,)
    with pytest.raises(PolymodalError, match="width must be a whole number"):
        build_fusion("attention", in_dims={"a": 5}, out_dim=4, width=-1)
    with pytest.raises(PolymodalError, match="not divisible by heads"):
        build_fusion("attention", in_dims={"a": 5}, out_dim=4, width=30, heads=4)
