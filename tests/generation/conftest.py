"""A tiny `shapes` table shared by the generation tests (16-32 px, a few dozen rows)."""

import pytest

from polymodal.data.recipes import build


@pytest.fixture(scope="session")
def tiny_shapes(tmp_path_factory):
    return build("shapes", tmp_path_factory.mktemp("gen-data") / "shapes", size=48, seed=3, image_size=32,
                 two_shape_fraction=0.0)
