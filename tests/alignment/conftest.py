"""A small aligned `shapes` run shared by the alignment tests."""

import pytest

import polymodal as pm

ENCODERS = {"audio": "mfcc", "text": "gru"}


@pytest.fixture(scope="module")
def shapes(shapes240):
    return shapes240


@pytest.fixture(scope="module")
def aligned(shapes, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "align"
    a = pm.Aligner(["audio", "caption"], encoders=ENCODERS, epochs=25, batch_size=64, progress=False)
    return a.fit(shapes, out=run), run
