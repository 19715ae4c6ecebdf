import pandas as pd
import pytest
from tests.conftest import write_image

from polymodal import ValidationError, detect_schema, read_table, validate
from polymodal.data.validate import write_skipped


def broken_table(tiny_table):
    """The tiny table with one of each promised problem, in a known row."""
    folder = tiny_table.parent
    df = pd.read_csv(tiny_table)
    df.loc[1, "photo"] = "img/does-not-exist.png"
    data = (folder / "img" / "0.png").read_bytes()
    (folder / "img" / "trunc.png").write_bytes(data[: len(data) // 2])
    df.loc[2, "photo"] = "img/trunc.png"
    (folder / "snd" / "bad.wav").write_bytes(b"RIFF\x00\x00garbage")
    df.loc[3, "sound"] = "snd/bad.wav"
    df.loc[4, "caption"] = "    "
    df.loc[5, "color"] = None
    df["weight"] = df["weight"].astype(object)
    df.loc[6, "weight"] = "heavy"
    df.loc[7, "photo"] = None  # an empty cell is a missing modality, not a problem
    return read_table(df, base_dir=folder)


def test_every_problem_is_listed_with_row_column_and_reason(tiny_table):
    table = broken_table(tiny_table)
    schema = detect_schema(table, label="color", overrides={"weight": "numeric"})
    with pytest.raises(ValidationError) as info:
        validate(table, schema)
    problems = {(p.row, p.column): p.reason for p in info.value.problems}
    assert set(problems) == {(1, "photo"), (2, "photo"), (3, "sound"), (4, "caption"), (5, "color"), (6, "weight")}
    assert problems[1, "photo"].startswith("file not found:") and "does-not-exist.png" in problems[1, "photo"]
    assert "cannot decode image" in problems[2, "photo"] and "trunc.png" in problems[2, "photo"]
    assert "cannot decode audio" in problems[3, "sound"]
    assert problems[4, "caption"] == "text is blank (only white space)"
    assert problems[5, "color"] == "label is missing"
    assert problems[6, "weight"] == "not a number"
    message = str(info.value)
    assert "6 problem(s) found" in message and "row 1, column 'photo'" in message and "--on-error skip" in message


def test_skip_policy_drops_rows_and_writes_reasons(tiny_table, tmp_path):
    table = broken_table(tiny_table)
    schema = detect_schema(table, label="color", overrides={"weight": "numeric"})
    report = validate(table, schema, on_error="skip")
    assert len(report.table) == 12 - 6
    assert "r7" in report.table.df["id"].tolist()  # missing image row kept
    path = write_skipped(report, tmp_path / "out" / "skipped.csv")
    skipped = pd.read_csv(path)
    assert skipped["row"].tolist() == [1, 2, 3, 4, 5, 6]
    assert list(skipped.columns) == ["row", "column", "reason", "value"]
    value = dict(zip(skipped["row"], skipped["value"], strict=True))
    assert "does-not-exist.png" in value[1] and "trunc.png" in value[2]  # the cell as written, to find and fix
    assert pd.isna(value[5])  # the missing label: nothing to show


def test_require_all_turns_missing_cells_into_problems(tiny_table):
    df = pd.read_csv(tiny_table)
    df.loc[3, "caption"] = None
    table = read_table(df, base_dir=tiny_table.parent)
    schema = detect_schema(table, label="color")
    assert validate(table, schema).ok
    with pytest.raises(ValidationError, match="row 3, column 'caption': value is missing"):
        validate(table, schema, require_all=True)


def test_non_string_text_and_unseen_label(tmp_path):
    write_image(tmp_path / "a.png")
    df = pd.DataFrame({"caption": ["a red one here", 42, "ok then fine"], "y": ["a", "b", "zzz"]})
    table = read_table(df, base_dir=tmp_path)
    schema = detect_schema(table, label="y", overrides={"caption": "text"})
    with pytest.raises(ValidationError) as info:
        validate(table, schema, known_labels={"y": {"a", "b"}})
    reasons = [str(p) for p in info.value.problems]
    assert reasons == ["row 1, column 'caption': expected text, got int (value '42')",
                       "row 2, column 'y': label 'zzz' was not seen in training (known: a, b)"]


def test_bad_policy_name():
    with pytest.raises(ValueError, match="on_error must be one of"):
        validate(read_table(pd.DataFrame({"a": [1]})), detect_schema(pd.DataFrame({"a": [1]})), on_error="ignore")
