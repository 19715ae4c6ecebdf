"""Index build -> save -> load -> search, adding rows, search by each modality, bad queries."""

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from tests.killing import ENV, kill_at_random, leftovers

import polymodal as pm
from polymodal import PolymodalError
from polymodal.alignment.search import build_index, search
from polymodal.cli import main
from polymodal.index import VectorIndex


@pytest.fixture(scope="module")
def index(aligned, shapes, tmp_path_factory):
    _, run = aligned
    folder = tmp_path_factory.mktemp("idx") / "audio"
    build_index(pm.load(run), shapes, "audio", folder)
    return folder


@pytest.mark.slow
def test_text_query_finds_the_sound_of_the_caption(index, shapes):
    hits = search(index, text="a large red circle on the left", k=10)
    assert list(hits["rank"]) == list(range(1, 11)) and hits["score"].is_monotonic_decreasing
    assert (hits["shape"] == "circle").mean() >= 0.6  # the attribute the sound encodes most clearly


@pytest.mark.slow
def test_saved_index_gives_the_same_results_and_audio_queries_find_themselves(index, shapes):
    df = pd.read_parquet(shapes)
    a = search(index, audio=str(shapes.parent / df["audio"][3]), k=5)
    b = search(VectorIndex.load(index), audio=str(shapes.parent / df["audio"][3]), k=5)
    pd.testing.assert_frame_equal(a, b)
    assert a["table_row"].iloc[0] == 3 and a["score"].iloc[0] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_adding_rows_keeps_old_vectors(aligned, shapes, tmp_path):
    _, run = aligned
    aligner = pm.load(run)
    df = pd.read_parquet(shapes)
    first, second = df.iloc[:100], df.iloc[100:]
    folder = tmp_path / "idx"
    build_index(aligner, pm.read_table(first, base_dir=shapes.parent), "audio", folder)
    before = VectorIndex.load(folder).vectors().copy()
    build_index(aligner, pm.read_table(second, base_dir=shapes.parent), "audio", add_to=folder)
    after = VectorIndex.load(folder)
    assert len(after) == len(df) and np.array_equal(after.vectors()[:100], before)
    whole = build_index(aligner, shapes, "audio")
    assert np.allclose(after.vectors(), whole.vectors(), atol=1e-5)


@pytest.mark.slow
def test_bad_queries_are_clear(index, tmp_path, capsys):
    with pytest.raises(PolymodalError, match="the query text is empty"):
        search(index, text="   ")
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEnope")
    with pytest.raises(PolymodalError, match="query audio: cannot decode audio"):
        search(index, audio=str(bad))
    with pytest.raises(PolymodalError, match="no image column"):
        search(index, image=str(bad))
    other = VectorIndex.create(8, meta={"run": VectorIndex.load(index).meta["run"], "column": "audio"})
    other.add(np.eye(8, dtype=np.float32)[:4], pd.DataFrame({"x": range(4)}))
    with pytest.raises(PolymodalError, match="8"):
        search(other, text="a red circle")
    assert main(["search", str(index), "--text", "a small blue square", "-k", "3", "--html",
                 str(tmp_path / "sheet.html")]) == 0
    assert "data:image/png;base64" in (tmp_path / "sheet.html").read_text()


@pytest.mark.slow
def test_zero_shot_command(aligned, shapes, tmp_path, capsys):
    _, run = aligned
    out = tmp_path / "zs.csv"
    assert main(["zero-shot", str(run), str(shapes), "--label", "shape", "--column", "audio", "-o", str(out)]) == 0
    assert "zero-shot accuracy of 'audio' -> 'shape'" in capsys.readouterr().out
    assert len(pd.read_csv(out)) == len(pd.read_parquet(shapes))
    assert main(["zero-shot", str(run), str(shapes), "--label", "shape", "--column", "caption"]) == 2
    assert "needs a text column in the alignment besides 'caption'" in capsys.readouterr().err


@pytest.mark.slow
def test_index_from_a_freshly_fitted_aligner_is_searchable_on_its_own(shapes, tmp_path):
    """The README's Python example: fit(out=RUN), build_index(a, ...), then search the index alone."""
    a = pm.Aligner(["audio", "caption"], encoders={"audio": "mfcc", "text": "gru"}, epochs=2,
                   batch_size=64, progress=False)
    a.fit(shapes, out=tmp_path / "run")
    build_index(a, shapes, "audio", tmp_path / "idx")
    assert VectorIndex.load(tmp_path / "idx").meta["run"] == str((tmp_path / "run").resolve())
    hits = search(tmp_path / "idx", text="a small red circle on the left", k=3)
    assert len(hits) == 3


@pytest.mark.slow
def test_index_build_killed_at_a_random_moment_then_rerun_gives_the_same_index(aligned, shapes, tmp_path):
    """SIGKILL anywhere in `polymodal index build` (start-up, embedding, the save): the folder is then either the
    whole index or refused with a message, never vectors of one save with rows of another; a rerun gives the
    index of an uninterrupted build, and no staged file is left."""
    _, run = aligned
    def cmd(out):
        return [sys.executable, "-m", "polymodal", "index", "build", str(run), str(shapes), "--column", "audio",
                "--out", str(out)]
    started = time.monotonic()
    subprocess.run(cmd(tmp_path / "whole"), env=ENV, check=True, capture_output=True)
    seconds = time.monotonic() - started
    cut = tmp_path / "cut"
    kill_at_random(cmd(cut), cut, seconds=seconds, seed="index build")
    whole = VectorIndex.load(tmp_path / "whole")
    try:
        assert len(VectorIndex.load(cut)) == len(whole)  # killed after its index.json: whole
    except PolymodalError as err:
        assert "no index folder" in str(err) or "was interrupted" in str(err), err
    subprocess.run(cmd(cut), env=ENV, check=True, capture_output=True)
    again = VectorIndex.load(cut)
    pd.testing.assert_frame_equal(again.rows, whole.rows)
    # two processes embed the same rows; a tolerance for a reduction split another way in the other process
    np.testing.assert_allclose(again.vectors(), whole.vectors(), atol=1e-6)
    assert leftovers(cut) == []
