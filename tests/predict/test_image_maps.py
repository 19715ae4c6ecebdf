"""Image maps (predict/image_maps.py, Captum): the attributions land where the model looks, integrated gradients add up
to the value's change, and the predictor and `explain --image-maps` draw them for each image column."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.predict.image_maps import attribute


def _top_left(images: torch.Tensor) -> torch.Tensor:
    """A value that reads only the top-left quadrant of a 16-px image."""
    return images[:, :, :8, :8].sum((1, 2, 3)) * 0.01


def test_integrated_gradients_lie_where_the_value_looks_and_add_up_to_its_change():
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    heat = attribute(_top_left, image, method="integrated-gradients")
    assert heat.shape == (16, 16)
    assert np.abs(heat[8:, :]).max() == 0 and np.abs(heat[:, 8:]).max() == 0
    # completeness (the value is linear, so the path integral is exact up to float rounding)
    np.testing.assert_allclose(heat.sum(), float(_top_left(image[None]) - _top_left(torch.zeros(1, 3, 16, 16))),
                               rtol=1e-4)


def test_occlusion_lies_where_the_value_looks():
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    heat = attribute(_top_left, image, method="occlusion")
    assert heat.shape == (16, 16)
    # windows of 4 px slid by 2: a window that covers no top-left pixel changes nothing
    assert np.abs(heat[10:, :]).max() == 0 and np.abs(heat[:, 10:]).max() == 0 and heat[:8, :8].min() > 0


@pytest.fixture(scope="module")
def colors(tmp_path_factory):
    return make_table(tmp_path_factory.mktemp("maps-data"), rows=60)


def test_a_trainable_encoder_gets_integrated_gradients_over_its_pixels(colors):
    p = pm.Predictor("color", fusion="concat", classical="none", epochs=3, estimate="holdout", progress=False,
                     encoders={"photo": "cnn:image_size=16:width=4:out_dim=16"}).fit(colors)
    maps = p.image_maps(colors, rows=3)
    assert [m["row"] for m in maps] == [0, 1, 2] and {m["method"] for m in maps} == {"integrated-gradients"}
    assert all(m["map"].shape == (16, 16) and np.isfinite(m["map"]).all() and m["column"] == "photo" for m in maps)
    assert {m["predicted"] for m in maps} <= {"red", "green", "blue"}
    with pytest.raises(PolymodalError, match="no image column 'sound'"):
        p.image_maps(colors, columns=["sound"])


@pytest.mark.slow
def test_explain_draws_occlusion_maps_through_a_frozen_encoder(colors, tmp_path):
    """EfficientNet-Lite0 is frozen: its features are cached, so the map comes from occluding the image and encoding
    it again; the saved model here is whatever the fit chose (an ensemble or a classical model works too: occlusion
    needs no gradient)."""
    run = tmp_path / "run"
    pm.Predictor("color", encoders={"photo": "efficientnet-lite0"}, epochs=3, estimate="holdout",
                 progress=False).fit(colors, out=run)
    out = tmp_path / "explain.html"
    assert main(["explain", str(run), str(colors), "--rows", "4", "--image-maps", "1", "-o", str(out)]) == 0
    html = out.read_text()
    assert "Where in the image" in html and "occlusion" in html
