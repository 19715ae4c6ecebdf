"""Contrastive pre-training on every row, labelled or not (predict/pretrain.py): the fronts learn what the
columns share, ride inside every neural candidate through save and load, and bad combinations are refused
before any work."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.predict.pretrain import pretrain_columns, pretrain_fronts
from polymodal.training.data import ArrayData

ENCODERS = {"photo": "cnn:image_size=16:width=4:out_dim=16", "sound": "mfcc", "caption": "minilm"}


def _paired(n: int, seed: int) -> ArrayData:
    """Two columns seen through different random maps of one 4-d latent, plus noise: what they share is learnable."""
    g = torch.Generator().manual_seed(seed)
    latent = torch.randn(n, 4, generator=g)
    maps = torch.Generator().manual_seed(0)
    a = latent @ torch.randn(4, 24, generator=maps) + 0.3 * torch.randn(n, 24, generator=g)
    b = torch.tanh(latent @ torch.randn(4, 16, generator=maps)) + 0.3 * torch.randn(n, 16, generator=g)
    ones = torch.ones(n, dtype=torch.bool)
    return ArrayData({"a": a, "b": b}, {"a": ones, "b": ones.clone()})


def test_pretraining_brings_a_rows_columns_together_on_rows_it_never_saw():
    fronts, info = pretrain_fronts(_paired(300, 1), _paired(200, 2), _paired(600, 3), ["a", "b"], seed=0)
    assert set(fronts) == {"a", "b"}
    assert info["rows"] == 300 and info["unlabeled_rows"] == 600 and info["epochs"] >= 1
    assert info["val_loss_end"] < 0.8 * info["val_loss_start"], info
    x = torch.randn(5, 24)
    assert not torch.allclose(fronts["a"](x), x)  # no longer the identity it started as


def test_it_needs_two_columns_with_fixed_features():
    from polymodal.encoders import build_encoder

    encoders = {c: build_encoder(e.split(":")[0]) for c, e in ENCODERS.items()}
    assert pretrain_columns(encoders, ["photo", "sound", "caption"]) == ["sound", "caption"]
    assert pretrain_columns(encoders, ["photo", "sound"]) == []


@pytest.fixture(scope="module")
def half_labelled(tmp_path_factory):
    table = make_table(tmp_path_factory.mktemp("pretrain-data"), rows=60)
    df = pd.read_csv(table)
    df.loc[df.index % 3 == 0, "color"] = None  # 20 rows without a label
    df.to_csv(table, index=False)
    return table


def test_a_fit_pretrains_on_unlabeled_rows_and_the_run_keeps_the_fronts(half_labelled, tmp_path):
    run = tmp_path / "run"
    p = pm.Predictor("color", fusion="concat", classical="none", encoders=ENCODERS, ensemble=False, epochs=3,
                     estimate="holdout", pretrain=True, progress=False)
    p.fit(half_labelled, out=run)
    info = p.pretrain_info_
    assert info["columns"] == ["caption", "sound"] and info["unlabeled_rows"] == 20
    assert len(p.model_.denoisers) == 2  # a front on each fixed-feature column of the saved model
    again = pm.load(run)
    assert len(again.model_.denoisers) == 2
    pd.testing.assert_frame_equal(again.predict_proba(half_labelled), p.predict_proba(half_labelled),
                                  check_exact=True)
    assert json.loads((run / "metrics.json").read_text())["pretrain"]["unlabeled_rows"] == 20
    assert "Contrastive pre-training" in (run / "report.html").read_text()


@pytest.mark.parametrize(("options", "message"), [
    ({"pretrain": "yes"}, "pretrain must be True or False"),
    ({"pretrain": True, "denoise": 0.5}, "choose one"),
    ({"pretrain": True, "dp_epsilon": 1.0, "fusion": "concat"}, "pretrain"),
    ({"pretrain": True, "stream": True}, "pretrain"),
])
def test_bad_combinations_are_refused_before_any_work(options, message, tmp_path):
    table = tmp_path / "table.parquet"  # a streamed fit checks that its table is Parquet first
    pd.DataFrame({"color": ["red"], "x": [1.0]}).to_parquet(table)
    with pytest.raises(PolymodalError, match=message):
        pm.Predictor("color", **options).fit(table)


def test_the_command_line_flag_reaches_the_predictor(tmp_path, capsys):
    from polymodal.cli import main

    assert main(["fit", str(tmp_path / "no-such-table.csv"), "--label", "y", "--pretrain", "--denoise", "0.5"]) == 2
    assert "choose one (--pretrain or --denoise)" in capsys.readouterr().err


def test_columns_never_present_together_are_skipped_with_the_reason():
    rows = _paired(40, 1)
    rows.masks["a"][20:] = False  # a only in the first half, b only in the second: no row holds both
    rows.masks["b"][:20] = False
    fronts, info = pretrain_fronts(rows, rows, None, ["a", "b"], seed=0)
    assert fronts == {} and "nothing to bring together" in info["skipped"]
