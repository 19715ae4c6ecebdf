"""Tables larger than memory (data/stream.py, `polymodal table convert|scan`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from tests.launch import child_env

from polymodal.data.stream import StreamTable, convert, generated, hash_split, scan
from polymodal.errors import TableError


def _csv(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "note": [f"a short note about item {i}" for i in range(n)],
                       "size": rng.normal(size=n).round(3), "label": [f"k{i % 3}" for i in range(n)]})
    df.to_csv(path, index=False)
    return path


def test_convert_makes_even_row_groups_and_keeps_every_row(tmp_path):
    src = _csv(tmp_path / "t.csv", 2_500)
    done = convert(src, tmp_path / "t.parquet", row_group_rows=1_000)
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    assert done["rows"] == 2_500 and [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000, 1000,
                                                                                                          500]
    back = pd.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back, pd.read_csv(src), check_dtype=False)
    with pytest.raises(TableError, match="not found"):
        convert(tmp_path / "nope.csv", tmp_path / "x.parquet")


def test_batches_carry_their_row_numbers(tmp_path):
    convert(_csv(tmp_path / "t.csv", 1_000), tmp_path / "t.parquet", row_group_rows=300)
    stream = StreamTable(tmp_path / "t.parquet", batch_rows=256)
    assert len(stream) == 1_000
    frames = [t.df for t in stream.batches()]
    assert all(len(f) <= 300 for f in frames)
    whole = pd.concat(frames)
    assert whole.index.tolist() == list(range(1_000)) and whole["id"].tolist() == [f"r{i}" for i in range(1_000)]
    assert stream.sample(50).df["id"].tolist() == [f"r{i}" for i in range(50)]
    with pytest.raises(TableError, match="convert it first"):
        StreamTable(tmp_path / "t.csv")


def test_the_hash_split_is_stable_and_near_its_fractions():
    keys = [f"row-{i}" for i in range(20_000)]
    names = hash_split(keys)
    assert np.array_equal(hash_split(keys[::-1])[::-1], names)  # a row's split never depends on the others
    assert np.array_equal(np.concatenate([hash_split(keys[:7_000]), hash_split(keys[7_000:])]), names)
    share = pd.Series(names).value_counts(normalize=True)
    assert abs(share["train"] - 0.70) < 0.02 and abs(share["val"] - 0.15) < 0.02 and abs(share["test"] - 0.15) < 0.02
    assert not np.array_equal(hash_split(keys, seed=1), names)


def test_scan_names_bad_rows_by_their_row_in_the_whole_table(tmp_path):
    df = pd.read_csv(_csv(tmp_path / "t.csv", 1_000))
    df["size"] = df["size"].astype(str)  # numbers as text, so a non-number can sit among them in Parquet
    df.loc[[5, 777], "size"] = "oops"  # not numbers: rows 5 and 777, in different batches
    df.to_parquet(tmp_path / "t.parquet", row_group_size=100)
    report = scan(tmp_path / "t.parquet", label="label", overrides={"size": "numeric"}, batch_rows=100,
                  skipped=tmp_path / "skipped.csv")
    assert (report.rows, report.kept, report.skipped_rows, report.batches) == (1_000, 998, 2, 10)
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    assert skipped["row"].tolist() == [5, 777] and set(skipped["column"]) == {"size"}
    assert sum(report.splits.values()) == 998 and set(report.labels) == {"k0", "k1", "k2"}
    # the split comes from the id column's hash, whatever the batches
    again = scan(tmp_path / "t.parquet", label="label", overrides={"size": "numeric"}, batch_rows=333,
                 skipped=tmp_path / "skipped2.csv")
    assert again.splits == report.splits


MEASURE = """
import resource, sys
from polymodal.data.stream import scan
r = scan(sys.argv[1], label="label", skipped=sys.argv[2])
print(r.rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_peak_memory_stays_flat_from_1m_to_4m_rows(tmp_path):
    env = child_env()
    peaks = {}
    for rows in (1_000_000, 4_000_000):
        table = generated(tmp_path / f"t{rows}.parquet", rows)
        done = subprocess.run([sys.executable, "-c", MEASURE, str(table), str(tmp_path / "skipped.csv")], env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        counted, peak_kib = map(int, done.stdout.split())
        assert counted == rows
        peaks[rows] = peak_kib
    assert peaks[4_000_000] <= 1.25 * peaks[1_000_000], peaks


def test_a_table_folder_is_its_table_file_and_a_folder_of_parts_is_a_dataset(tmp_path):
    from polymodal.data.stream import parquet_path
    from polymodal.predict.streamed import wants_stream

    recipe = tmp_path / "recipe"  # what `polymodal data build` writes: the table beside a data card and a schema
    recipe.mkdir()
    df = pd.read_csv(_csv(recipe / "table.csv", 20))
    df.to_parquet(recipe / "table.parquet")
    (recipe / "DATACARD.md").write_text("# a data card, not Parquet\n")
    (recipe / "schema.yaml").write_text("label: label\n")
    assert parquet_path(recipe) == recipe / "table.parquet"
    assert wants_stream(None, recipe) is False  # small: read whole (it once opened DATACARD.md as a part)
    assert len(StreamTable(parquet_path(recipe))) == 20
    only_csv = tmp_path / "csv"
    only_csv.mkdir()
    _csv(only_csv / "table.csv", 5)
    assert parquet_path(only_csv) is None
    parts = tmp_path / "parts"
    parts.mkdir()
    df.iloc[:10].to_parquet(parts / "part-0.parquet")
    df.iloc[10:].to_parquet(parts / "part-1.parquet")
    assert parquet_path(parts) == parts and len(StreamTable(parts)) == 20
