"""Small runs and an index shared by the serving and export tests (registered in tests/conftest.py):
a colour classifier over image, sound, caption and a number, the same without the text column (every
input exports to ONNX), and an image-caption alignment with an index of its images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

import polymodal as pm
from polymodal.alignment.search import build_index

COLORS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 220)}
ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}


def make_table(folder, rows: int = 36, seed: int = 0):
    rng = np.random.default_rng(seed)
    records = []
    for i in range(rows):
        name = list(COLORS)[i % 3]
        pixels = np.clip(np.array(COLORS[name]) + rng.normal(0, 25, (20, 20, 3)), 0, 255).astype(np.uint8)
        (folder / "img").mkdir(parents=True, exist_ok=True)
        (folder / "snd").mkdir(exist_ok=True)
        Image.fromarray(pixels).save(folder / "img" / f"{i}.png")
        t = np.arange(8000) / 16000
        sf.write(folder / "snd" / f"{i}.wav", (0.4 * np.sin(2 * np.pi * (300 + 150 * (i % 3)) * t)).astype(np.float32),
                 16000)
        records.append({"photo": f"img/{i}.png", "sound": f"snd/{i}.wav", "caption": f"a {name} square, number {i}",
                        "weight": float(i % 3) + rng.normal(0, 0.1), "color": name})
    pd.DataFrame(records).to_csv(folder / "table.csv", index=False)
    return folder / "table.csv"


@pytest.fixture(scope="session")
def table(tmp_path_factory):
    return make_table(tmp_path_factory.mktemp("serve-data"))


@pytest.fixture(scope="session")
def predictor_run(table, tmp_path_factory):
    run = tmp_path_factory.mktemp("serve-runs") / "colors"
    pm.Predictor("color", encoders=ENCODERS, epochs=3, batch_size=16, hidden=16, baselines=False,
                 classical="none", progress=False).fit(table, out=run)  # a fused model over every input
    return run


@pytest.fixture(scope="session")
def tensor_run(table, tmp_path_factory):
    """No text column: every input is a tensor, so the whole head exports to ONNX."""
    run = tmp_path_factory.mktemp("serve-runs") / "colors-tensor"
    pm.Predictor("color", encoders=ENCODERS, epochs=3, batch_size=16, hidden=16, baselines=False, progress=False,
                 classical="none", overrides={"caption": "ignore"}).fit(table, out=run)
    return run


@pytest.fixture(scope="session")
def index_folder(table, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-index")
    pm.Aligner(["photo", "caption"], encoders={"image": ENCODERS["image"], "text": "gru"}, epochs=3,
                         batch_size=16, dim=16, hidden=32, progress=False).fit(table, out=root / "align")
    build_index(pm.load(root / "align"), table, "photo", root / "photos")  # the index names the run
    return root / "photos"
