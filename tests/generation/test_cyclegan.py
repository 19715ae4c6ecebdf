"""Unpaired image-to-image translation (generation/cyclegan.py, generation/translation.py): the cycle loss goes down,
a saved run translates exactly as the fitted one, the evaluation reads content and style, and bad settings are refused
before any work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.generation.cyclegan import CycleGAN
from polymodal.generation.translation import summary_rows

TINY = {"source": "warm", "target": "cool", "image_size": 32, "width": 8, "batch_size": 8, "epochs": 10, "lr": 1e-3,
        "model_options": {"blocks": 1}, "evaluate_after_fit": False, "progress": False}


@pytest.fixture(scope="module")
def unpaired(tiny_shapes, tmp_path_factory):
    """The tiny shapes table as two unpaired image columns: warm-coloured shapes in one, cool ones in the other; no
    row has both."""
    df = pd.read_parquet(tiny_shapes)
    warm = df["color"].isin(["red", "yellow", "purple"])
    images = [str(tiny_shapes.parent / p) for p in df["image"]]
    table = pd.DataFrame({"warm": np.where(warm, images, None), "cool": np.where(warm, None, images),
                          **{c: df[c] for c in ("shape", "color", "size", "position", "split")}})
    path = tmp_path_factory.mktemp("unpaired") / "table.parquet"
    table.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted(unpaired, tmp_path_factory):
    run = tmp_path_factory.mktemp("cyclegan") / "run"
    return pm.Generator("image-to-image", "cyclegan", **TINY).fit(unpaired, out=run), run


def test_the_cycle_loss_goes_down(fitted):
    g, _ = fitted
    cycle = [row["cycle"] for row in g.history_]
    assert cycle[-1] < 0.7 * cycle[0], cycle
    assert g.domain_sizes_["source"] > 0 and g.domain_sizes_["target"] > 0


def test_a_saved_run_translates_as_the_fitted_one(fitted, unpaired, tmp_path):
    g, run = fitted
    df = pd.read_parquet(unpaired)
    files = df["warm"].dropna().head(3).tolist()
    first = g.translate(files)
    assert first.shape == (3, 3, 32, 32) and float(first.min()) >= 0 and float(first.max()) <= 1
    loaded = pm.load(run)
    assert torch.equal(first, loaded.translate(files)) and torch.equal(g.generate(files), first)
    back = loaded.translate(first, back=True)
    assert back.shape == first.shape
    assert "Each row is one held-out source image" in (run / "report.html").read_text()
    out = tmp_path / "grid.png"
    assert main(["generate", str(run), *files, "-o", str(out)]) == 0 and out.stat().st_size > 0


def test_the_evaluation_reads_content_kept_and_style_changed(fitted, unpaired):
    g, _ = fitted
    metrics = g.evaluate(unpaired, attributes=["color", "size"], reader_steps=60)
    assert 0 <= metrics["cycle_l1_source"] < 1 and 0 <= metrics["cycle_l1_target"] < 1
    assert "reader_real_accuracy_color" in metrics and "reader_real_accuracy_size" in metrics
    judged = summary_rows(metrics)
    # colour never overlaps between the columns: style; size does: content (when the reader is trusted with them)
    assert set(judged["judged"]) <= {"style changed", "content kept"}
    if "style_changed_color" in metrics:
        assert metrics["identity_style_changed_color"] == 0.0  # an untranslated warm shape is never cool
    if "content_kept_size" in metrics:
        assert "identity_content_kept_size" in metrics


def test_the_cycle_and_identity_terms_are_what_the_paper_weighs():
    torch.manual_seed(0)
    m = CycleGAN((3, 16, 16), width=4, blocks=1)
    batch = type("B", (), {"x": torch.rand(4, 3, 16, 16) * 2 - 1, "cond": torch.rand(4, 3, 16, 16) * 2 - 1})
    losses = m.train_step(batch, m.optimizers(1e-3), 0)
    assert set(losses) == {"loss", "cycle", "identity", "g_loss", "d_loss"}
    assert losses["loss"] == pytest.approx(2 * losses["g_loss"] + 10 * 2 * losses["cycle"]
                                           + 0.5 * 10 * 2 * losses["identity"], rel=1e-5)


@pytest.mark.parametrize(("settings", "message"), [
    ({"task": "image-to-image", "model": "cvae", "source": "a"}, "translates with --model cyclegan"),
    ({"task": "text-to-image", "model": "cyclegan"}, "translates images"),
    ({"task": "image-to-image", "model": "cyclegan"}, "needs the image column to translate from"),
    ({"task": "text-to-image", "model": "cvae", "source": "a"}, "source .--source. is the image column"),
    ({"task": "image-to-image", "model": "cyclegan", "source": "a", "model_options": {"blocks": 0}}, "blocks >= 1")])
def test_bad_settings_are_refused_before_any_work(settings, message, tmp_path):
    with pytest.raises(PolymodalError, match=message):
        g = pm.Generator(**settings, progress=False)
        g.fit(tmp_path / "no-such-table.parquet")


def test_the_command_line_fits_a_translation(unpaired, tmp_path):
    out = tmp_path / "cli"
    assert main(["fit", str(unpaired), "--task", "image-to-image", "--model", "cyclegan", "--source", "warm",
                 "--target", "cool", "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--no-evaluate",
                 "--out", str(out)]) == 0
    assert pm.load(out).task == "image-to-image"
