"""A small aligned `shapes` run shared by the alignment tests."""

import pytest

import polymodal as pm
from polymodal.data.recipes import build

ENCODERS = {"audio": "mfcc", "text": "gru"}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return build("shapes", tmp_path_factory.mktemp("data") / "shapes", size=240, seed=0)


@pytest.fixture(scope="module")
def aligned(shapes, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "align"
    a = pm.Aligner(["audio", "caption"], encoders=ENCODERS, epochs=25, batch_size=64, progress=False)
    return a.fit(shapes, out=run), run
