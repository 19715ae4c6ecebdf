from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import write_image

from polymodal import TableError, detect_schema, read_table
from polymodal.schema import Schema, load_overrides


def roles(schema: Schema) -> dict[str, str]:
    return {c.name: c.role for c in schema.columns}


def test_detects_every_role_from_content(tiny_table):
    schema = detect_schema(tiny_table, label="color")
    assert roles(schema) == {"id": "id", "photo": "image", "sound": "audio", "caption": "text",
                             "weight": "numeric", "size": "categorical", "color": "label"}
    assert "12/12 sampled files exist" in next(c.reason for c in schema.columns if c.name == "photo")
    assert list(schema.modalities) == sorted(schema.modalities)  # batch key order is sorted


def test_relative_paths_resolve_against_the_table_folder(tiny_table, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path.parent)  # cwd elsewhere: detection must still find the files
    table = read_table(tiny_table)
    assert table.base_dir == tiny_table.parent.resolve()
    reason = next(c.reason for c in detect_schema(table).columns if c.name == "sound")
    assert "12/12" in reason


def test_overrides_win_and_yaml_overrides(tiny_table, tmp_path):
    schema = detect_schema(tiny_table, overrides={"size": "ignore", "caption": "categorical"})
    assert roles(schema)["size"] == "ignore" and roles(schema)["caption"] == "categorical"
    yml = tmp_path / "schema.yaml"
    yml.write_text("label: [color]\nignore: weight\ncaption: text\n")
    assert load_overrides(yml) == {"color": "label", "weight": "ignore", "caption": "text"}


def test_unknown_column_names_the_table_and_suggests(tiny_table):
    with pytest.raises(TableError, match=r"no column named 'colour' \(did you mean 'color'\?\)"):
        detect_schema(tiny_table, label="colour")
    with pytest.raises(TableError, match="unknown role 'picture'"):
        detect_schema(tiny_table, overrides={"photo": "picture"})


def test_split_and_missing_files_still_detected_as_paths(tmp_path):
    df = pd.DataFrame({"img": [f"nope/{i}.jpg" for i in range(5)], "split": ["train"] * 3 + ["test"] * 2,
                       "score": [0.1, 0.5, 0.9, 1.2, 3.3]})
    schema = detect_schema(read_table(df, base_dir=tmp_path))
    assert roles(schema) == {"img": "image", "split": "split", "score": "numeric"}
    assert "0/5 sampled files exist" in schema.columns[0].reason


def test_animated_gif_column_is_video(tmp_path):
    from PIL import Image

    frames = [Image.new("RGB", (8, 8), (i * 30, 0, 0)) for i in range(4)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    write_image(tmp_path / "b.gif")
    assert roles(detect_schema(read_table(pd.DataFrame({"clip": ["a.gif"]}), base_dir=tmp_path))) == {
        "clip": "video"}
    assert roles(detect_schema(read_table(pd.DataFrame({"pic": ["b.gif"]}), base_dir=tmp_path))) == {
        "pic": "image"}


def test_schema_round_trips_through_dict(tiny_table):
    schema = detect_schema(tiny_table, label="color")
    assert Schema.from_dict(schema.to_dict()).to_dict() == schema.to_dict()


def test_empty_column_is_ignored(tmp_path: Path):
    df = pd.DataFrame({"a": [None, None], "b": ["x y z w", "p q r s"]})
    assert roles(detect_schema(df)) == {"a": "ignore", "b": "text"}
