"""Property-based tests of the table readers, schema detection and validation: any table, in any format, with
cells of any type, NaN and infinities, huge strings, odd encodings, duplicate or empty column names, and files
that are not what their names say, ends in a summary or in a `PolymodalError` that says where, never in
another exception (a traceback for the user) and never in a hang (Hypothesis's deadline)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from polymodal.data.summary import summarize
from polymodal.errors import PolymodalError, TableError

# Files the cells may point at: a real PNG and WAV, files whose bytes are not what their suffix says, a missing
# file and a path that climbs out of the table's folder.
MEDIA = ["ok.png", "ok.wav", "junk.png", "junk.wav", "junk.gif", "empty.png", "missing.png", "../../../etc/passwd.png",
         "/dev/null.wav"]
CELLS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),  # any unicode, control characters and surrogate-free astral planes included
    st.text(alphabet="ab \n,\"'\t\\", max_size=20),  # the CSV writer's and reader's special characters
    st.just("x" * 100_000),  # a huge string
    st.sampled_from(MEDIA),
    st.sampled_from(["NaN", "inf", "-inf", "", " ", "null", "None", "1e400", "0x1F", "\ufeffa"]),
)
NAMES = st.one_of(st.sampled_from(["label", "image", "audio", "caption", "split", "id", "", " ", "label"]),
                  st.text(max_size=12))
FORMATS = ("csv", "tsv", "parquet", "jsonl")


@st.composite
def tables(draw) -> tuple[pd.DataFrame, str, str]:
    columns = draw(st.lists(NAMES, min_size=1, max_size=5))
    rows = draw(st.integers(0, 12))
    # A "media" column is mostly file names, so that detection calls it image/audio and validation opens the files.
    media = [draw(st.booleans()) for _ in columns]
    data = [[draw(st.sampled_from(MEDIA) if m and draw(st.integers(0, 4)) else CELLS) for m in media]
            for _ in range(rows)]
    df = pd.DataFrame(data, columns=columns) if rows else pd.DataFrame(columns=columns)
    return df, draw(st.sampled_from(FORMATS)), draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))


def _media(folder: Path) -> None:
    import soundfile as sf
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(folder / "ok.png")
    sf.write(folder / "ok.wav", np.zeros(800, np.float32), 8000)
    for name in ("junk.png", "junk.wav", "junk.gif"):
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3)
    (folder / "empty.png").write_bytes(b"")


def _write(df: pd.DataFrame, fmt: str, encoding: str, folder: Path) -> Path | None:
    """The table in `fmt`, or None when pandas or pyarrow refuse to write it (their refusal is not ours to test)."""
    path = folder / f"table.{fmt}"
    try:
        if fmt in ("csv", "tsv"):
            df.to_csv(path, index=False, sep="," if fmt == "csv" else "\t", encoding=encoding)
        elif fmt == "parquet":
            try:
                df.to_parquet(path, index=False)
            except Exception:  # a column of mixed types: Parquet wants one type per column
                df.astype(str).to_parquet(path, index=False)
        else:
            df.to_json(path, orient="records", lines=True, force_ascii=False)
    except Exception:
        return None
    return path


def _summarize_or_named_error(path: Path, on_error: str) -> None:
    try:
        summary = summarize(path, on_error=on_error, check_files=True)
    except PolymodalError as exc:
        message = str(exc)
        assert message.strip(), "an error with no message"
        if isinstance(exc, TableError):
            assert str(path) in message or path.name in message or "column" in message, message
        return
    columns = {c.name for c in summary.schema.columns}
    for problem in summary.problems:  # each problem says where: a row and a column of the table
        assert problem.column in columns and 0 <= problem.row < summary.rows, problem


@pytest.mark.slow
@settings(max_examples=60, deadline=10_000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(table=tables(), on_error=st.sampled_from(["skip", "error"]))
def test_any_table_gives_a_summary_or_a_named_error(table, on_error):
    df, fmt, encoding = table
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _media(folder)
        path = _write(df, fmt, encoding, folder)
        assume(path is not None)
        _summarize_or_named_error(path, on_error)


@settings(max_examples=40, deadline=10_000)
@given(content=st.binary(max_size=2000), fmt=st.sampled_from((*FORMATS, "json")))
def test_random_bytes_under_a_table_name_give_a_named_error_or_a_summary(content, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"table.{fmt}"
        path.write_bytes(content)
        _summarize_or_named_error(path, "skip")
