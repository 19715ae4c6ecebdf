"""webdataset tar shards read as a table (data/webdataset.py): samples by key, members by extension, media bytes
stored as files, brace patterns over shards, and clear errors for a missing or broken shard."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from tests.data.test_blobs import COLORS, png

from polymodal.data.table import read_table
from polymodal.data.webdataset import expand
from polymodal.errors import TableError
from polymodal.schema import detect_schema


def shard(path, samples: list[dict]) -> None:
    with tarfile.open(path, "w") as tar:
        for sample in samples:
            for ext, data in sample.items():
                if ext == "__key__":
                    continue
                info = tarfile.TarInfo(f"{sample['__key__']}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def samples(start: int, n: int) -> list[dict]:
    names = list(COLORS)
    return [{"__key__": f"part/s{i:04d}", "jpg": png(COLORS[names[i % 3]], i),
             "txt": f"a {names[i % 3]} square, number {i}".encode(), "cls": str(i % 3).encode(),
             "json": json.dumps({"width": 24, "source": "test"}).encode()} for i in range(start, start + n)]


def test_shards_become_rows_with_media_as_files(tmp_path):
    for k in range(3):
        shard(tmp_path / f"train-{k:03d}.tar", samples(10 * k, 10))
    table = read_table(str(tmp_path / "train-{000..002}.tar"))
    df = table.df
    assert len(df) == 30 and df["__key__"].tolist()[:2] == ["part/s0000", "part/s0001"]
    assert df["cls"].tolist()[:4] == [0, 1, 2, 0] and df["txt"].iloc[1] == "a green square, number 1"
    assert df["json.width"].iloc[0] == 24 and df["jpg"].iloc[0].endswith(".png")  # named by content, not by member
    schema = detect_schema(table, label="cls")
    assert schema.role("jpg") == "image" and schema.role("txt") == "text" and schema.role("__key__") == "id"
    assert len(read_table(tmp_path / "train-001.tar").df) == 10  # one shard alone


def test_a_missing_or_broken_shard_is_named(tmp_path):
    shard(tmp_path / "a-0.tar", samples(0, 2))
    with pytest.raises(TableError, match=r"1 of 2 shard\(s\) not found: .*a-1.tar"):
        read_table(str(tmp_path / "a-{0..1}.tar"))
    (tmp_path / "b.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(TableError, match=r"b\.tar: not a readable tar shard"):
        read_table(tmp_path / "b.tar")
    bad = samples(0, 1)
    bad[0]["json"] = b"{broken"
    shard(tmp_path / "c.tar", bad)
    with pytest.raises(TableError, match=r"c\.tar member part/s0000\.json: not valid JSON"):
        read_table(tmp_path / "c.tar")


def test_brace_patterns_keep_their_padding():
    assert [p.name for p in expand("x-{08..11}.tar")] == ["x-08.tar", "x-09.tar", "x-10.tar", "x-11.tar"]
    assert [p.name for p in expand("x.tar")] == ["x.tar"]
