"""Media as bytes (data/blobs.py): Hugging Face `datasets` exports with Image and Audio columns, Arrow files and
bytes cells read, fitted and predicted like paths; a corrupt bytes cell named by row and column."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from polymodal import Predictor
from polymodal.data import blobs
from polymodal.data.table import read_table
from polymodal.data.validate import validate
from polymodal.encoders.cache import file_key
from polymodal.errors import ValidationError
from polymodal.schema import detect_schema

COLORS = {"red": (230, 20, 20), "green": (20, 200, 40), "blue": (30, 40, 230)}
TONES = {"red": 300.0, "green": 600.0, "blue": 1200.0}


def png(color, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(color)[None, None, :] + rng.normal(0, 20, (20, 24, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def wav(freq: float, seed: int) -> bytes:
    t = np.arange(4000) / 16000
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    sf.write(out, (0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.normal(size=t.size)).astype(np.float32), 16000,
             format="WAV")
    return out.getvalue()


def records(n: int, offset: int = 0) -> dict:
    names = [list(COLORS)[i % 3] for i in range(n)]
    return {"photo": [{"bytes": png(COLORS[c], offset + i), "path": None} for i, c in enumerate(names)],
            "sound": [{"bytes": wav(TONES[c], offset + i), "path": None} for i, c in enumerate(names)],
            "color": names}


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    datasets = pytest.importorskip("datasets")
    # Audio is written as its storage struct, then cast: datasets' own audio encoder needs torchcodec (FFmpeg)
    struct = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
    features = datasets.Features({"photo": datasets.Image(), "sound": struct, "color": datasets.Value("string")})
    splits = {name: datasets.Dataset.from_dict(records(n, offset), features=features).cast_column(
        "sound", datasets.Audio(decode=False))
        for name, n, offset in (("train", 60, 0), ("validation", 21, 100), ("test", 21, 200))}
    folder = tmp_path_factory.mktemp("hf") / "colors"
    datasets.DatasetDict(splits).save_to_disk(str(folder))
    return folder, splits


@pytest.mark.slow
def test_a_datasets_export_fits_and_predicts(hf_folder, tmp_path):
    folder, splits = hf_folder
    table = read_table(folder)
    assert table.df["split"].value_counts().to_dict() == {"train": 60, "val": 21, "test": 21}
    schema = detect_schema(table, label="color")
    assert (schema.role("photo"), schema.role("sound")) == ("image", "audio")
    p = Predictor(label="color", fusion="concat", epochs=3, progress=False).fit(folder, out=tmp_path / "run")
    assert p.best_.test["accuracy"] >= 0.9  # colours and tones are far apart: near perfect
    predicted = Predictor.load(tmp_path / "run").predict(splits["test"])  # a Dataset object, as it is
    assert (np.asarray(predicted) == np.asarray(splits["test"]["color"])).mean() >= 0.9


def test_a_datasets_parquet_and_arrow_export_read_as_paths(hf_folder, tmp_path):
    _, splits = hf_folder
    splits["test"].to_parquet(str(tmp_path / "test.parquet"))
    table = read_table(tmp_path / "test.parquet")
    photo = table.df["photo"].iloc[0]
    assert isinstance(photo, str) and photo.endswith(".png")
    assert table.df["sound"].iloc[0].endswith(".wav")
    # the stored file holds the cell's bytes: its cache key is the content's, wherever the bytes came from
    first = splits["test"].to_pandas()["photo"].iloc[0]["bytes"]
    with open(photo, "rb") as f:
        assert f.read() == first
    copy = tmp_path / "same.png"
    copy.write_bytes(first)
    assert file_key(copy) == file_key(__import__("pathlib").Path(photo))
    arrow = next(p for p in (hf_folder[0] / "test").glob("*.arrow"))
    assert read_table(arrow).df["photo"].iloc[0] == photo  # an Arrow stream file, as datasets writes it


def test_a_corrupt_bytes_cell_is_named_by_row_and_column(tmp_path):
    good = [png(COLORS["red"], i) for i in range(4)]
    broken = good[2][:40]  # a PNG cut short: its header says PNG, its data are gone
    df = pd.DataFrame({"photo": [good[0], good[1], broken, good[3]], "color": ["red"] * 4})
    table = read_table(df)
    schema = detect_schema(table, label="color")
    with pytest.raises(ValidationError) as err:
        validate(table, schema)
    text = str(err.value)
    assert "row 2" in text and "photo" in text and "the image bytes in this cell" in text
    assert text.count("cannot decode") == 1


def test_cells_become_paths_or_empty():
    assert blobs.extension(png(COLORS["red"], 0)) == ".png"
    assert blobs.extension(wav(440.0, 0)) == ".wav"
    assert blobs.extension(b"\xff\xd8\xff\xe0rest") == ".jpg"
    assert blobs.extension(b"nothing known") == ".bin"
    assert blobs.to_path({"bytes": None, "path": "/data/a.png"}) == "/data/a.png"
    assert blobs.to_path({"bytes": b"", "path": None}) is None
    assert blobs.to_path(b"") is None
    assert blobs.to_path("already/a/path.png") == "already/a/path.png"
    stored = blobs.to_path({"array": np.zeros(160), "sampling_rate": 16000})  # a decoded datasets Audio cell
    assert stored.endswith(".wav") and sf.info(stored).samplerate == 16000
    df = pd.DataFrame({"text": ["a", "b"], "photo": [png(COLORS["blue"], 1), None]})
    out = blobs.spill(df)
    assert out["text"].tolist() == ["a", "b"] and pd.isna(out["photo"].iloc[1])
    assert out["photo"].iloc[0] == blobs.spill(df)["photo"].iloc[0]  # the same bytes, the same file


def test_bytes_that_are_not_media_stay_as_they_are():
    digests = pd.DataFrame({"digest": [bytes(range(i, i + 20)) for i in range(5)],
                            "meta": [{"bytes": 1024, "path": "x"}] * 5})  # a size, not media bytes
    out = blobs.spill(digests)
    assert out["digest"].tolist() == digests["digest"].tolist() and out["meta"].tolist() == digests["meta"].tolist()
    stereo = blobs.to_path({"array": np.zeros((2, 800)), "sampling_rate": 8000})  # (channels, samples)
    assert sf.info(stereo).channels == 2 and sf.info(stereo).frames == 800
