"""The openmoji recipe: real emoji artworks + Unicode names and groups + spoken names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from PIL import Image

from polymodal import detect_schema
from polymodal.data.recipes import build, get_recipe, speech
from polymodal.data.recipes import openmoji as om
from polymodal.errors import PolymodalError

SIZE, PIXELS = 40, 64
COLUMNS = ["id", "emoji", "image", "audio", "caption", "group", "subgroup", "base_id", "voice", "speed",
           "pitch", "split"]

SNIPPET = """\
# emoji-test.txt
# Version: 99.0

# group: Smileys & Emotion

# subgroup: face-smiling
1F600                                      ; fully-qualified     # 😀 E1.0 grinning face
263A FE0F                                  ; fully-qualified     # ☺️ E0.6 smiling face
263A                                       ; unqualified         # ☺ E0.6 smiling face

# group: Component

# subgroup: skin-tone
1F3FB                                      ; component           # 🏻 E1.0 light skin tone

# group: Flags

# subgroup: country-flag
1F1EF 1F1F5                                ; fully-qualified     # 🇯🇵 E0.6 flag: Japan
#EOF
"""


def _digest(folder: Path) -> dict[str, str]:
    """sha256 of every media file, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.suffix in {".png", ".wav"}}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("openmoji") / "o"
    table = pd.read_parquet(build("openmoji", out, size=SIZE, seed=0, image_size=PIXELS))
    return out, table


def test_registered_with_all_rows_as_default_size():
    recipe = get_recipe("openmoji")
    assert recipe.default_size == len(om.catalogue(True)) > 3500
    assert set(recipe.knobs) == {"image_size", "skin_tones"}
    assert recipe.label == "group" and "CC BY-SA 4.0" in recipe.license and "OpenMoji" in recipe.license


def test_columns_and_splits(built):
    out, table = built
    assert list(table.columns) == COLUMNS
    assert len(table) == SIZE and table["id"].is_unique
    assert set(table["split"]) == {"train", "val", "test"}
    assert (table["split"].to_numpy() == om.split_by_base(table, seed=0)).all()  # drawn per base
    assert (out / "DATACARD.md").read_text().count("Skin tones and splits") == 1


def test_images_are_rgb_pngs_of_requested_size_and_not_blank(built):
    out, table = built
    for rel in table["image"]:
        with Image.open(out / rel) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (PIXELS, PIXELS))
            pixels = np.asarray(image)
        assert (pixels < 250).any(axis=-1).sum() > 20  # the artwork is there
        assert (pixels[0, 0] == 255).all()  # on white, not on transparent black


def test_audio_is_16khz_pcm16_mono_speech(built):
    out, table = built
    for rel in table["audio"]:
        info = soundfile.info(out / rel)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16_000, 1, "PCM_16", "WAV")
        samples, _ = soundfile.read(out / rel)
        assert 0.2 < len(samples) / 16_000 < 10
        assert np.sqrt(np.mean(samples**2)) > 0.01
    row = table.iloc[0]  # resampled, not relabelled: as long as eSpeak's own 22,050 Hz clip
    spoken = speech.synthesize(row["caption"], voice=row["voice"], speed=row["speed"], pitch=row["pitch"])
    expected = len(spoken) / speech.sample_rate()
    assert soundfile.info(out / row["audio"]).duration == pytest.approx(expected, rel=0.02)


def test_known_emojis_have_unicode_names_and_groups(built):
    table = om.catalogue().set_index("id")
    assert table.loc["1F600", ["caption", "group", "subgroup", "emoji"]].tolist() == [
        "grinning face", "Smileys & Emotion", "face-smiling", "😀"]
    assert table.loc["1F1EF-1F1F5", "caption"] == "flag: Japan"
    assert table.loc["263A-FE0F", "svg"] == "263A.svg"  # OpenMoji's file name lacks FE0F
    _, sample = built
    assert (sample.set_index("id")["caption"] == table.loc[sample["id"], "caption"]).all()


def test_parser_on_a_snippet():
    rows = om.parse_emoji_test(SNIPPET)
    assert rows["id"].tolist() == ["1F600", "263A-FE0F", "263A", "1F3FB", "1F1EF-1F1F5"]
    assert rows["status"].tolist() == ["fully-qualified", "fully-qualified", "unqualified", "component",
                                       "fully-qualified"]
    japan = rows.iloc[-1]
    assert (japan["emoji"], japan["caption"], japan["group"], japan["subgroup"]) == (
        "🇯🇵", "flag: Japan", "Flags", "country-flag")
    assert rows.iloc[3]["group"] == "Component" and rows.iloc[1]["caption"] == "smiling face"
    assert om.emoji_test_version(SNIPPET) == "99.0"


def test_catalogue_keeps_fully_qualified_non_component_emojis():
    table = om.catalogue()
    assert "Component" not in set(table["group"])
    assert "1F3FB" not in set(table["id"])  # a bare skin tone is a component, not an emoji
    assert "263A" not in set(table["id"])  # the unqualified form is dropped


def test_skin_tones_off_drops_modifier_sequences(tmp_path):
    with_tones, without = om.catalogue(True), om.catalogue(False)
    assert with_tones["id"].map(om.has_skin_tone).sum() > 1000
    assert not without["id"].map(om.has_skin_tone).any()
    assert set(without["id"]) == set(with_tones.loc[~with_tones["id"].map(om.has_skin_tone), "id"])
    table = pd.read_parquet(build("openmoji", tmp_path / "o", size=12, seed=0, skin_tones="false"))
    assert len(table) == 12 and not table["id"].map(om.has_skin_tone).any()


def test_variants_point_at_their_toneless_emoji():
    table = om.catalogue().set_index("id")
    assert table.loc["1F44B-1F3FB", "base_id"] == "1F44B"  # waving hand
    assert table.loc["261D-1F3FF", "base_id"] == "261D-FE0F"  # base needs FE0F, variant does not
    assert table.loc["1F9D1-1F3FB-200D-2764-FE0F-200D-1F48B-200D-1F9D1-1F3FF", "base_id"] == "1F48F"  # kiss
    assert table.loc["1F469-1F3FB-200D-1F9B0", "base_id"] == "1F469-200D-1F9B0"  # woman: red hair
    toned = table[table.index.map(om.has_skin_tone)]
    bases = table.loc[toned["base_id"]]
    assert not bases.index.map(om.has_skin_tone).any()
    assert (bases["group"].to_numpy() == toned["group"].to_numpy()).all()


def test_splits_are_drawn_per_base_and_stratified_on_group():
    table = om.catalogue()
    split = pd.Series(om.split_by_base(table, seed=0), index=table.index)
    assert split.groupby(table["base_id"]).nunique().max() == 1
    bases = table.assign(split=split).drop_duplicates("base_id")
    shares = bases.groupby("group")["split"].value_counts(normalize=True).unstack()
    assert shares["train"].between(0.6, 0.8).all() and shares["test"].between(0.08, 0.25).all()
    assert not (split == om.split_by_base(table, seed=1)).all()


def test_make_keeps_all_variants_of_an_emoji_in_one_split(tmp_path, monkeypatch):
    monkeypatch.setattr(om, "render_all", lambda workdir, images, clips: [1.0] * len(clips))  # rows only
    table = om.make(tmp_path, size=1500, seed=0).table
    assert table["base_id"].duplicated().sum() > 100
    assert table.groupby("base_id")["split"].nunique().max() == 1


def test_stratified_subset_keeps_every_group():
    labels = om.catalogue()["group"]
    picked = om.stratified_subset(labels, 40, seed=3)
    assert len(picked) == 40 and len(set(picked)) == 40
    assert set(labels.iloc[picked]) == set(labels)
    assert (picked == om.stratified_subset(labels, 40, seed=3)).all()
    assert not (picked == om.stratified_subset(labels, 40, seed=4)).all()
    tiny = om.stratified_subset(labels, 3, seed=0)  # fewer rows than groups: the largest win
    assert len(tiny) == 3 and labels.iloc[tiny].value_counts()["People & Body"] == 2


def test_same_seed_same_files_other_seed_other_voices(built, tmp_path):
    out, table = built
    again = tmp_path / "again"
    assert pd.read_parquet(build("openmoji", again, size=SIZE, seed=0, image_size=PIXELS)).equals(table)
    assert _digest(again) == _digest(out) and len(_digest(out)) == 2 * SIZE
    other = om.select(SIZE, seed=1, skin_tones=True)
    assert not other["voice"].equals(om.select(SIZE, seed=0, skin_tones=True)["voice"])


def test_gzip_copies_read_the_same():
    assert om.read_svg("1F600.svg.gz") == om.read_svg("1F600.svg")
    assert om.artwork_index()["1F600"] == "1F600.svg"  # plain copy preferred: no decompressor needed


@pytest.mark.parametrize("knobs, message", [({"image_size": "big"}, "image_size"),
                                            ({"image_size": 4}, "image_size"),
                                            ({"skin_tones": "maybe"}, "skin_tones")])
def test_bad_knobs_are_user_errors(tmp_path, knobs, message):
    with pytest.raises(PolymodalError, match=message):
        om.make(tmp_path, size=10, seed=0, **knobs)


def test_schema_yaml_sets_the_roles_detection_would_miss(built):
    out, _ = built
    schema = detect_schema(out / "table.parquet")
    ignored = ["emoji", "voice", "speed", "pitch", "base_id"]
    assert {c: schema.role(c) for c in ["id", "caption", "group", *ignored]} == {
        "id": "id", "caption": "text", "group": "categorical", **dict.fromkeys(ignored, "ignore")}
    assert (schema.role("image"), schema.role("audio")) == ("image", "audio")
