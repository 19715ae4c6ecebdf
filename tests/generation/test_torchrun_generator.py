"""A generator trained on 2 gloo ranks (generation/trainer.py under torchrun): every rank's optimisers step on
the summed gradients, the ranks end with the same weights (the trainer checks it, and fails the fit if not),
and rank 0 writes one finished run that generates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_a_generator_fits_on_two_ranks(tiny_shapes, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "polymodal", "fit", str(tiny_shapes), "--task", "text-to-image", "--model", "cvae",
                           "--epochs", "2", "--batch-size", "16", "--out", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "disagree" not in done.stderr

    from polymodal import Generator

    g = Generator.load(tmp_path / "run")
    images = g.generate(["a large red circle on the left"], n=2, seed=0)
    assert images.shape[0] == 2 and bool((images >= 0).all() and (images <= 1).all())
