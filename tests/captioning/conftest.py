"""A small `shapes` table and a GRU captioner fitted on it, shared by the captioning tests."""

import pytest
from tests.encoders.conftest import one_thread  # noqa: F401  (autouse: tiny models run on one thread)

import polymodal as pm


@pytest.fixture(scope="module")
def shapes(shapes240):
    return shapes240


@pytest.fixture(scope="module")
def captioned(shapes, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "caption"
    c = pm.Captioner(decoder="gru", hidden=128, epochs=14, batch_size=32, lr=3e-3, progress=False)
    return c.fit(shapes, out=run), run
