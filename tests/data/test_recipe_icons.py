"""The icons recipe: Breeze drawings, one row per distinct image, labelled by theme context.

The row rules (largest size, aliases and duplicates dropped, small contexts dropped, big ones
capped) are checked on a small theme the tests draw themselves; the real theme is fetched with
apt-get and its tests skip, saying why, where the Debian mirror cannot be reached.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from polymodal import detect_schema
from polymodal.data.recipes import build, get_recipe, icons
from polymodal.errors import PolymodalError

SIZE, PIXELS = 60, 48
COLUMNS = ["id", "image", "name", "context", "size", "file", "split"]


def _svg(colour: str, side: int = 22) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}">'
            f'<rect x="2" y="2" width="{side - 4}" height="{side - 4}" fill="{colour}"/></svg>')


def draw_theme(root: Path) -> Path:
    """A theme with 40 'actions' (each at 16 and 22 px), 12 'apps' (one a copy of another),
    3 'emotes', aliases within and across contexts, a symbolic folder and a dangling link."""
    (root / "index.theme").parent.mkdir(parents=True)
    (root / "index.theme").write_text("[Icon Theme]\nName=Tiny\n")
    for i in range(40):
        for side in (16, 22):
            _write(root / f"actions/{side}/act-{i:02d}.svg", _svg(f"#{i:02x}{side:02x}40", side))
    for i in range(12):
        _write(root / f"apps/48/app_{i:02d}.svg", _svg(f"#80{i:02x}ff", 48))
    same = (root / "apps/48/app_00.svg").read_text()
    (root / "apps/48/app_11.svg").write_text(same)  # a copy, not a link: equal bytes
    for i in range(3):
        _write(root / f"emotes/22/face-{i}.svg", _svg(f"#ff{i:02x}00"))
    _write(root / "actions/symbolic/act-00-symbolic.svg", _svg("#000000"))
    os.symlink("act-01.svg", root / "actions/22/alias-of-01.svg")
    os.symlink("../../actions/22/act-02.svg", root / "apps/48/zz-cross-alias.svg")
    os.symlink("../../../elsewhere/x.svg", root / "apps/48/dangling.svg")
    return root


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def theme(tmp_path) -> Path:
    return draw_theme(tmp_path / "breeze")


def test_one_drawing_per_context_and_name_at_its_largest_size(theme):
    found = icons.drawings(theme)
    assert len(found) == 40 + 1 + 12 + 1 + 3  # + the actions alias + the cross-context alias
    assert set(found.loc[found["context"] == "actions", "size"]) == {22}
    assert "act-00-symbolic" not in set(found["icon"]) and "dangling" not in set(found["icon"])
    cross = found.set_index("icon").loc["zz-cross-alias"]
    assert cross["digest"] == _sha(theme / "actions/22/act-02.svg")


def test_choose_drops_aliases_small_contexts_and_caps_big_ones(theme):
    found = icons.drawings(theme)
    chosen = icons.choose(found, min_class=5, max_class=30, seed=0)
    assert chosen["digest"].is_unique
    counts = chosen["context"].value_counts().to_dict()
    assert counts == {"actions": 30, "apps": 11}  # emotes: 3 < 5
    assert "app_11" not in set(chosen["icon"]) and "zz-cross-alias" not in set(chosen["icon"])
    other = icons.choose(found, min_class=5, max_class=30, seed=1)
    assert set(other["icon"]) != set(chosen["icon"])  # the cap is a seeded sample
    with pytest.raises(PolymodalError, match="min_class=99"):
        icons.choose(found, min_class=99, max_class=30, seed=0)


def test_build_from_a_theme_folder(theme, tmp_path):
    parquet = build("icons", tmp_path / "out", seed=0, theme_dir=str(theme), min_class=5,
                    max_class=30, image_size=PIXELS)
    table = pd.read_parquet(parquet)
    assert list(table.columns) == COLUMNS and len(table) == 41
    assert table.set_index("id").loc["apps/app_03", "name"] == "app 03"
    for rel in table["image"]:
        with Image.open(parquet.parent / rel) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (PIXELS, PIXELS))
    assert "the icon theme folder" in (parquet.parent / "DATACARD.md").read_text()


def test_names_read_dashes_and_underscores_as_spaces():
    assert icons.spoken_name("audio-volume-high") == "audio volume high"
    assert icons.spoken_name("kde_im-log_viewer") == "kde im log viewer"


@pytest.mark.parametrize("knobs, message", [({"image_size": "big"}, "image_size"),
                                            ({"min_class": 0}, "min_class"),
                                            ({"max_class": "many"}, "max_class"),
                                            ({"theme_dir": "/no/such/theme"}, "no index.theme")])
def test_bad_options_are_user_errors(tmp_path, knobs, message):
    with pytest.raises(PolymodalError, match=message):
        icons.make(tmp_path, size=10, seed=0, **knobs)


# ---------------------------------------------------------------- the real theme, from Debian
@pytest.fixture(scope="module")
def real_theme() -> Path:
    try:
        folder, _ = icons.theme_folder()
    except PolymodalError as exc:  # no apt-get, or the mirror is unreachable
        pytest.skip(f"Breeze icons unavailable: {exc}")
    return folder


@pytest.fixture(scope="module")
def built(real_theme, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("icons") / "i"
    return out, pd.read_parquet(build("icons", out, size=SIZE, seed=0, image_size=PIXELS))


def test_registered_with_its_licence_and_label():
    recipe = get_recipe("icons")
    assert recipe.label == "context" and "LGPL-3.0" in recipe.license and "Breeze" in recipe.source
    assert set(recipe.knobs) == {"image_size", "min_class", "max_class", "theme_dir"}


def test_real_rows_are_distinct_and_classes_within_bounds(real_theme):
    chosen = icons.choose(icons.drawings(real_theme), min_class=30, max_class=600, seed=0)
    counts = chosen["context"].value_counts()
    assert chosen["digest"].is_unique and 1500 < len(chosen) < 2500
    assert counts.min() >= 30 and counts.max() == 600
    assert {"actions", "apps", "devices", "mimetypes", "places", "status"} <= set(counts.index)
    assert "categories" not in counts.index  # 16 distinct drawings


def test_columns_splits_and_images(built):
    out, table = built
    assert list(table.columns) == COLUMNS and table["id"].is_unique
    assert SIZE - 3 <= len(table) <= SIZE  # rows whose PNG repeats an earlier one are dropped
    assert set(table["split"]) == {"train", "val", "test"}
    assert table.set_index("id").loc[table["id"].iloc[0], "name"] == icons.spoken_name(
        table["id"].iloc[0].split("/", 1)[1])
    for rel in table["image"]:
        with Image.open(out / rel) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (PIXELS, PIXELS))
            pixels = np.asarray(image)
        assert (pixels < 250).any(axis=-1).sum() > 10 and (pixels[0, 0] == 255).all()


def test_no_image_content_in_two_rows(built):
    out, table = built
    digests = table["image"].map(lambda rel: _sha(out / rel))
    assert digests.is_unique  # so none is shared across splits
    assert "LGPL-3" in (out / "DATACARD.md").read_text()


def test_schema_reads_name_as_text_and_context_as_label(built):
    out, _ = built
    schema = detect_schema(out / "table.parquet", label="context")
    roles = {c.name: c.role for c in schema.columns}
    assert roles["name"] == "text" and roles["image"] == "image"
    assert roles["size"] == "ignore" and roles["file"] == "ignore"


def test_same_seed_same_table_and_images(built, tmp_path):
    out, table = built
    again = build("icons", tmp_path / "again", size=SIZE, seed=0, image_size=PIXELS).parent
    assert pd.read_parquet(again / "table.parquet").equals(table)
    assert [_sha(again / r) for r in table["image"]] == [_sha(out / r) for r in table["image"]]
