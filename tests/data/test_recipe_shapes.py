"""The `shapes` recipe: layout of the table, decodable media, determinism, caching,
and that every label can be read back from the pixels, the sound and the motion."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image, ImageSequence
from tests.killing import ENV, kill_at_random, leftovers

from polymodal import detect_schema
from polymodal.data.recipes import build, get_recipe
from polymodal.data.recipes.shapes import (
    BACKGROUND,
    COLOR_WAVE,
    COLORS,
    POSITION_ONSET,
    SAMPLE_RATE,
    SHAPE_PITCH,
    SHAPES,
    SIZE_SECONDS,
)
from polymodal.errors import PolymodalError

SIZE = 48
COLUMNS = {"id", "image", "audio", "video", "caption", "video_caption", "shape", "color", "size",
           "position", "count", "motion", "split"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The default build (64 px, 30 % two-shape scenes, 8 frames)."""
    parquet = build("shapes", tmp_path_factory.mktemp("shapes") / "s", size=SIZE, seed=0)
    return parquet.parent, pd.read_parquet(parquet)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The hardest layout: 32 px images, every scene with a distractor, 4 frames."""
    parquet = build("shapes", tmp_path_factory.mktemp("shapes32") / "s", size=SIZE, seed=3,
                    image_size=32, two_shape_fraction=1.0, frames=4)
    return parquet.parent, pd.read_parquet(parquet)


@pytest.mark.slow
def test_data_build_killed_at_a_random_moment_then_rerun_gives_the_same_bytes(built, tmp_path):
    """SIGKILL anywhere in `polymodal data build`: --out is then absent or whole, never half-built; the rerun
    gives the bytes of an uninterrupted build and removes the killed build's work folder."""
    root, table = built
    out = tmp_path / "shapes"
    cmd = [sys.executable, "-m", "polymodal", "data", "build", "shapes", "--size", str(SIZE), "--seed", "0",
           "--out", str(out)]
    seconds = json.loads((root / "recipe.json").read_text())["seconds"]
    kill_at_random(cmd, out, seconds=seconds, seed="data build",
                   started=lambda: any(tmp_path.glob(".shapes.partial-*")))
    assert not out.exists() or (out / "recipe.json").exists()
    subprocess.run(cmd, env=ENV, check=True, capture_output=True)
    assert leftovers(tmp_path) == []
    assert (out / "table.csv").read_bytes() == (root / "table.csv").read_bytes()
    for path in (*table["image"], *table["audio"], *table["video"]):
        assert (out / path).read_bytes() == (root / path).read_bytes(), path


def test_registered_with_its_knobs():
    recipe = get_recipe("shapes")
    assert recipe.default_size == 2000 and recipe.label == "shape"
    assert set(recipe.knobs) == {"image_size", "two_shape_fraction", "frames"}


def test_table_has_columns_balanced_labels_and_split(built):
    _, table = built
    assert set(table.columns) == COLUMNS and len(table) == SIZE
    assert table["id"].is_unique and table["id"].map(type).eq(str).all()
    assert table["shape"].value_counts().tolist() == [SIZE // len(SHAPES)] * len(SHAPES)
    assert table["color"].value_counts().max() - table["color"].value_counts().min() <= 1
    assert table["count"].value_counts().to_dict() == {1: 34, 2: 14}  # round(48 * 0.3) two-shape scenes
    assert set(table["split"]) == {"train", "val", "test"}
    assert (table.groupby("split")["shape"].nunique() == len(SHAPES)).all()


def test_media_files_exist_and_decode(built):
    root, table = built
    for row in table.itertuples():
        with Image.open(root / row.image) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (64, 64))
        samples, rate = sf.read(root / row.audio)
        assert rate == SAMPLE_RATE and samples.shape == (SAMPLE_RATE,)
        assert sf.info(root / row.audio).subtype == "PCM_16"
        with Image.open(root / row.video) as gif:
            assert (gif.format, gif.size, gif.n_frames) == ("GIF", (32, 32), 8)
    assert (root / "DATACARD.md").read_text().count("## Attribute to sound") == 1


def test_knobs_change_sizes_counts_and_frames(small):
    root, table = small
    assert (table["count"] == 2).all()
    row = table.iloc[0]
    assert Image.open(root / row["image"]).size == (32, 32)
    assert Image.open(root / row["video"]).n_frames == 4


@pytest.mark.parametrize("knobs", [{"image_size": 16}, {"frames": 40}, {"two_shape_fraction": 1.5},
                                   {"colour": "red"}])
def test_bad_knobs_are_refused(tmp_path, knobs):
    with pytest.raises(PolymodalError):
        build("shapes", tmp_path / "bad", size=4, **knobs)
    assert not (tmp_path / "bad").exists()


PHRASE = r"a (small|large) (\w+) (\w+) (?:on the |in the )(left|center|right)"


def test_captions_agree_with_labels(built, small):
    for _, table in (built, small):
        for row in table.itertuples():
            phrases = re.findall(PHRASE, row.caption)
            assert re.fullmatch(f"{PHRASE}( and {PHRASE})?", row.caption), row.caption
            assert len(phrases) == row.count
            assert phrases[0] == (row.size, row.color, row.shape, row.position)
            assert row.video_caption == f"a {row.color} {row.shape} moving {row.motion}"


def test_schema_yaml_ignores_the_video_caption(built):
    """It describes the clip's motion, not the image; `caption` stays the text of the scene."""
    root, _ = built
    schema = detect_schema(root / "table.parquet")
    assert (schema.role("video_caption"), schema.role("caption")) == ("ignore", "text")
    assert schema.role("color") == "categorical"  # label columns other than the default stay inputs


def test_same_seed_same_bytes_other_seed_other_data(built, tmp_path):
    root, table = built
    again = build("shapes", tmp_path / "again", size=SIZE, seed=0).parent
    other = build("shapes", tmp_path / "other", size=SIZE, seed=1).parent
    for column in ("image", "audio", "video"):
        for path in table[column]:
            assert (again / path).read_bytes() == (root / path).read_bytes(), path
    assert (again / "table.csv").read_bytes() == (root / "table.csv").read_bytes()
    assert (other / "images/000000.png").read_bytes() != (root / "images/000000.png").read_bytes()
    assert (other / "audio/000000.wav").read_bytes() != (root / "audio/000000.wav").read_bytes()
    assert not pd.read_csv(other / "table.csv")["caption"].equals(table["caption"])


def test_cached_rebuild_is_untouched(built):
    root, _ = built
    stamp = (root / "images/000000.png").stat().st_mtime_ns
    again = build("shapes", root, size=SIZE, seed=0)
    assert again == root / "table.parquet"
    assert (root / "images/000000.png").stat().st_mtime_ns == stamp


# ---------------------------------------------------------------- reading attributes back
def _mask(pixels: np.ndarray, rgb) -> np.ndarray:
    return (pixels == np.array(rgb)).all(axis=-1)


def _nearest(value, table: dict):
    return min(table, key=lambda k: np.linalg.norm(np.subtract(table[k], value)))


def _shape_from_mask(mask: np.ndarray) -> str:
    """Fill of the bounding box separates square / circle / the rest; a triangle's mass sits low."""
    ys, xs = np.nonzero(mask)
    fill = mask.sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
    if fill > 0.9:
        return "square"
    if fill > 0.65:
        return "circle"
    low = (ys.mean() - (ys.min() + ys.max()) / 2) / (np.ptp(ys) + 1)
    return "triangle" if low > 0.08 else "diamond"


@pytest.mark.parametrize("which", ["built", "small"])
def test_attributes_recoverable_from_pixels(which, request):
    root, table = request.getfixturevalue(which)
    for row in table.itertuples():
        pixels = np.asarray(Image.open(root / row.image)).astype(int)
        side = pixels.shape[0]
        shapes = ~_mask(pixels, BACKGROUND)
        colours = {tuple(c) for c in pixels[shapes]}
        assert len(colours) == row.count  # flat colours, one per shape, nothing overlaps
        main = _mask(pixels, COLORS[row.color])
        assert _nearest(pixels[main].mean(axis=0), COLORS) == row.color
        ys, xs = np.nonzero(main)
        assert ["left", "center", "right"][int(3 * xs.mean() / side)] == row.position, row.id
        width = (np.ptp(xs) + 1) / side  # small boxes are 0.2 of the side wide, large 0.34
        assert ("small" if width < 0.27 else "large") == row.size, (row.id, width)
        assert _shape_from_mask(main) == row.shape, row.id
        if row.count == 2:  # the labelled shape is the higher one, and the two never touch
            ys2, xs2 = np.nonzero(shapes & ~main)
            assert ys.mean() < ys2.mean(), row.id
            assert xs.max() < xs2.min() or xs2.max() < xs.min() or ys.max() < ys2.min(), row.id


def _tone(samples: np.ndarray) -> tuple[float, float]:
    """Start and length in seconds of the part louder than the noise floor."""
    loud = np.nonzero(np.abs(samples) > 0.05)[0]
    return loud[0] / SAMPLE_RATE, (loud[-1] - loud[0]) / SAMPLE_RATE


def _harmonics(samples: np.ndarray) -> tuple[float, np.ndarray]:
    """Dominant frequency, and the 2nd and 3rd harmonics' amplitudes relative to it."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)
    f0 = freqs[spectrum.argmax()]
    level = [spectrum[np.abs(freqs - n * f0) < 0.03 * f0].max() for n in (1, 2, 3)]
    return f0, np.array(level[1:]) / level[0]


# Fourier series: a_n / a_1 for n = 2, 3 of each zero-mean waveform.
PROFILE = {"sine": (0, 0), "square": (0, 1 / 3), "triangle": (0, 1 / 9), "sawtooth": (1 / 2, 1 / 3),
           "pulse": (np.sqrt(2) / 2, 1 / 3)}


def _apart(measured: dict[str, list[float]], gap: float) -> bool:
    """True when the ranges of values measured per class are separated by at least `gap`."""
    ranges = sorted((min(v), max(v)) for v in measured.values())
    return all(low - high >= gap for (_, high), (low, _) in itertools.pairwise(ranges))


def test_attributes_recoverable_from_audio(built):
    root, table = built
    heard: dict[str, dict[str, list[float]]] = {"pitch": {}, "onset": {}, "length": {}}
    for row in table.itertuples():
        samples, _ = sf.read(root / row.audio)
        onset, length = _tone(samples)
        f0, ratios = _harmonics(samples)
        assert _nearest(f0, SHAPE_PITCH) == row.shape, (row.id, f0)
        assert _nearest(ratios, PROFILE) == COLOR_WAVE[row.color], (row.id, ratios)
        assert _nearest(length, SIZE_SECONDS) == row.size, (row.id, length)
        assert _nearest(onset, POSITION_ONSET) == row.position, (row.id, onset)
        heard["pitch"].setdefault(row.shape, []).append(np.log2(f0) * 12)  # in semitones
        heard["onset"].setdefault(row.position, []).append(onset)
        heard["length"].setdefault(row.size, []).append(length)
    assert len(heard["pitch"]) == len(SHAPES) and _apart(heard["pitch"], 2.0)  # a whole tone at least
    assert _apart(heard["onset"], 0.1) and _apart(heard["length"], 0.1)


def test_jitter_makes_scenes_of_one_class_differ(built):
    root, table = built
    heights, pitches = set(), set()
    for row in table[table["count"] == 1].itertuples():
        pixels = np.asarray(Image.open(root / row.image)).astype(int)
        heights.add(round(np.nonzero(_mask(pixels, COLORS[row.color]))[0].mean()))
        pitches.add(round(_harmonics(sf.read(root / row.audio)[0])[0]))
    assert len(heights) > 10 and len(pitches) > 10


def test_motion_recoverable_from_video(built, small):
    step = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
    for root, table in (built, small):
        for row in table.itertuples():
            with Image.open(root / row.video) as gif:
                frames = [np.asarray(f.convert("RGB")).astype(int) for f in ImageSequence.Iterator(gif)]
            centres = [np.nonzero(_mask(f, COLORS[row.color]))[::-1] for f in frames]
            path = np.array([(xs.mean(), ys.mean()) for xs, ys in centres])
            moved = path[-1] - path[0]
            along, across = np.array(step[row.motion]), np.array(step[row.motion][::-1])
            assert moved @ along > 0.4 * 32, (row.id, moved)  # clearly, and the right way
            assert abs(moved @ across) < 1  # only along that axis
