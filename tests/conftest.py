"""Shared fixtures: tiny multimodal tables that the tests build themselves."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

# Hermetic: data sets, the feature cache and exported ONNX graphs go to a fresh folder per test
# session (subprocesses inherit it), never to the user's ~/.cache/polymodal.
os.environ["POLYMODAL_HOME"] = tempfile.mkdtemp(prefix="polymodal-test-")

# Under pytest-xdist (`make test` runs two workers on two cores) each worker computes on one thread: two
# workers of two threads each would oversubscribe the cores, and one thread per small test wastes less in
# synchronisation. Subprocesses the tests start inherit the setting.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

pytest_plugins = ["tests.serving_fixtures"]  # runs shared by tests/serve and tests/export, fitted once


def write_image(path: Path, color=(255, 0, 0), size=(24, 20), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).convert(mode).save(path)
    return path


def write_tone(path: Path, freq=440.0, seconds=0.5, sr=16000, channels=1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    wave = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    sf.write(path, np.stack([wave] * channels, axis=1) if channels > 1 else wave, sr)
    return path


@pytest.fixture
def tiny_table(tmp_path: Path) -> Path:
    """A CSV of 12 rows: image and audio paths (relative), captions, a number, a category, a label."""
    rows = []
    colors = {"red": (255, 0, 0), "green": (0, 200, 0), "blue": (0, 0, 255)}
    for i in range(12):
        name = list(colors)[i % 3]
        write_image(tmp_path / "img" / f"{i}.png", colors[name])
        write_tone(tmp_path / "snd" / f"{i}.wav", freq=300 + 100 * (i % 3))
        rows.append({"id": f"r{i}", "photo": f"img/{i}.png", "sound": f"snd/{i}.wav",
                     "caption": f"a small {name} square number {i}", "weight": 1.5 * i,
                     "size": ["small", "large"][i % 2], "color": name})
    pd.DataFrame(rows).to_csv(tmp_path / "table.csv", index=False)
    return tmp_path / "table.csv"


@pytest.fixture(scope="session")
def tiny_shapes(tmp_path_factory):
    """A tiny `shapes` table (32 px, 48 rows) shared by the generation and job-contract tests."""
    from polymodal.data.recipes import build

    return build("shapes", tmp_path_factory.mktemp("gen-data") / "shapes", size=48, seed=3, image_size=32,
                 two_shape_fraction=0.0)


@pytest.fixture(scope="session")
def shapes240(tmp_path_factory):
    """A 240-row `shapes` table (the recipe's defaults, seed 0), built once for the alignment and captioning tests."""
    from polymodal.data.recipes import build

    return build("shapes", tmp_path_factory.mktemp("data") / "shapes", size=240, seed=0)
