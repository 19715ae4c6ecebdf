"""A generator trained on 2 gloo ranks (generation/trainer.py under torchrun): every rank's optimisers step on
the summed gradients, the ranks end with the same weights (the trainer checks it, and fails the fit if not),
and rank 0 writes one finished run that generates."""

from __future__ import annotations

import subprocess

import pytest
from tests.launch import child_env, torchrun


@pytest.mark.slow
def test_a_generator_fits_on_two_ranks(tiny_shapes, tmp_path):
    env = child_env(OMP_NUM_THREADS="1")
    # --no-evaluate: the held-out evaluation runs on rank 0 alone after training, as in one process (tested there)
    done = subprocess.run([*torchrun(2), "-m", "polymodal", "fit", str(tiny_shapes), "--task", "text-to-image",
                           "--model", "cvae", "--epochs", "2", "--batch-size", "16", "--image-size", "16",
                           "--no-evaluate", "--out", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "disagree" not in done.stderr

    from polymodal import Generator

    g = Generator.load(tmp_path / "run")
    images = g.generate(["a large red circle on the left"], n=2, seed=0)
    assert images.shape[0] == 2 and bool((images >= 0).all() and (images <= 1).all())
