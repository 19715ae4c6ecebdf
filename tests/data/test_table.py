import json

import pandas as pd
import pytest

from polymodal import TableError, read_table


@pytest.mark.parametrize("suffix", ["csv", "tsv", "parquet", "jsonl"])
def test_reads_every_format_the_same(tmp_path, suffix):
    df = pd.DataFrame({"text": ["a cat", "a dog"], "n": [1, 2]})
    path = tmp_path / f"t.{suffix}"
    {"csv": lambda: df.to_csv(path, index=False), "tsv": lambda: df.to_csv(path, sep="\t", index=False),
     "parquet": lambda: df.to_parquet(path), "jsonl": lambda: df.to_json(path, orient="records", lines=True)}[
        suffix]()
    table = read_table(path)
    assert table.df["text"].tolist() == ["a cat", "a dog"] and table.df["n"].tolist() == [1, 2]
    assert table.source == str(path)


def test_folder_with_table_parquet(tmp_path):
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "table.parquet")
    assert read_table(tmp_path).df["x"].tolist() == [1]


def test_dataframe_source(tmp_path):
    t = read_table(pd.DataFrame({"x": [1]}), base_dir=tmp_path)
    assert t.base_dir == tmp_path.resolve() and t.source == "<DataFrame>"


def test_errors_name_the_file(tmp_path):
    with pytest.raises(TableError, match=r"missing.csv: table file not found"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(TableError, match=r"unknown table format '.xlsx'"):
        read_table(tmp_path / "t.xlsx")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"a": 1}) + "\n{not json\n")
    with pytest.raises(TableError, match=r"bad.jsonl: could not be read as JSONL"):
        read_table(tmp_path / "bad.jsonl")
    with pytest.raises(TableError, match=r"no table\.parquet"):
        read_table(tmp_path)
