"""Denoising pre-training (predict/denoise.py): the denoiser cleans noisy features, rides inside the model through
save, load and ONNX export, and bad values are refused before any work."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.predict.denoise import Denoiser, attach, pretrain
from polymodal.training.data import ArrayData

ENCODERS = {"photo": "cnn:image_size=16:width=4:out_dim=16", "sound": "mfcc", "caption": "gru"}


def _low_rank(n: int, seed: int) -> ArrayData:
    """32-d features on a 3-d subspace: what a denoiser can learn to project noise away from."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    x = torch.randn(n, 3, generator=g) @ basis + 5.0
    return ArrayData({"a": x}, {"a": torch.ones(n, dtype=torch.bool)})


def test_a_fresh_denoiser_changes_nothing():
    x = torch.randn(4, 10)
    assert torch.equal(Denoiser(10)(x), x)


def test_pretraining_cleans_noisy_features_it_never_saw():
    _, figures = pretrain(_low_rank(2000, 1), _low_rank(300, 2), ["a"], 0.5, seed=0)
    (row,) = figures
    assert row["column"] == "a" and row["rows"] == 2000
    assert row["rms_denoised"] < 0.5 * row["rms_noisy"], row  # most of the noise lies off the 3-d subspace


@pytest.fixture(scope="module")
def colors(tmp_path_factory):
    return make_table(tmp_path_factory.mktemp("denoise-data"), rows=60)


@pytest.fixture(scope="module")
def denoised(colors, tmp_path_factory):
    run = tmp_path_factory.mktemp("denoise-run") / "run"
    p = pm.Predictor("color", fusion="concat", classical="none", encoders=ENCODERS, ensemble=False, epochs=3,
                     estimate="holdout", denoise=0.5, progress=False)
    return p.fit(colors, out=run), run


def test_every_neural_candidate_starts_from_the_denoiser_and_keeps_it(denoised, colors, tmp_path):
    p, run = denoised
    assert [r["column"] for r in p.denoised_] == ["sound"], "the one column with fixed features (MFCC)"
    assert "c0" in p.model_.denoisers and len(p.best_fusion().model_.denoisers) == 1
    first = p.predict_proba(colors)
    again = pm.load(run)
    assert "c0" in again.model_.denoisers
    pd.testing.assert_frame_equal(again.predict_proba(colors), first, check_exact=True)
    assert json.loads((run / "metrics.json").read_text())["denoise"][0]["column"] == "sound"
    assert "Denoising pre-training" in (run / "report.html").read_text()


def test_the_denoiser_is_part_of_the_exported_graph(tmp_path):
    from tests.export.test_onnx_parity import max_diff, model_with

    from polymodal.export.graph import export_head

    model = model_with("concat")
    denoisers = {"audio": Denoiser(24)}
    with torch.no_grad():  # not the identity: the graph must compute it
        for param in denoisers["audio"].parameters():
            param.add_(0.1 * torch.randn(param.shape))
    attach(model, denoisers)
    path, _ = export_head(model, tmp_path / "head.onnx")
    assert max_diff(model, path, 7, 3) < 1e-4


@pytest.mark.parametrize("value", [-0.1, 6, "a", float("nan"), True])
def test_a_bad_noise_level_is_refused_before_any_work(value, tmp_path):
    with pytest.raises(PolymodalError, match="denoise must be a noise level"):
        pm.Predictor("color", denoise=value).fit(tmp_path / "no-such-table.csv")
