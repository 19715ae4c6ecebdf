"""Sharded feature extraction (encoders/sharded.py, `polymodal features extract|status`, `cache merge`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.killing import kill_at_random
from tests.launch import child_env

from polymodal.encoders.cache import FeatureCache, own_share
from polymodal.encoders.sharded import (
    Shard,
    extract_shard,
    features_status,
    merge_caches,
    parse_shard,
    read_features,
    read_part,
)
from polymodal.errors import PolymodalError


def _texts(folder: Path, n: int = 240) -> Path:
    words = ["red", "green", "blue", "round", "square", "tiny", "huge", "soft", "loud", "calm", "old", "new"]
    rows = [{"text": f"row {i}: a {words[i % 12]} {words[(i // 12) % 12]} thing", "y": i % 3} for i in range(n)]
    pd.DataFrame(rows).to_csv(folder / "t.csv", index=False)
    return folder / "t.csv"


def _cli(*args: str, home: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "polymodal", *args]


def _env(home: Path) -> dict:
    return child_env(POLYMODAL_HOME=str(home))


def _stored_keys(home: Path) -> list[str]:
    from safetensors import safe_open

    keys = []
    for shard in (home / "features").glob("*/shard-*.safetensors"):
        with safe_open(str(shard), framework="numpy") as f:
            keys += json.loads(f.metadata()["keys"])
    return keys


@pytest.mark.slow
def test_two_concurrent_shards_make_the_whole_table_once(tmp_path):
    table, home = _texts(tmp_path), tmp_path / "home"
    procs = [subprocess.Popen(_cli("features", "extract", str(table), "--shard", f"{k}/2", "--out", "parts",
                                   "--quiet", home=home), cwd=tmp_path, env=_env(home), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out + err
    status = features_status(tmp_path / "parts")
    assert (status["rows_done"], status["shards_done"], status["missing"]) == (240, 2, [])
    assert [s["rows"] for s in status["per_shard"]] == [120, 120]
    assert sum(s["computed"] for s in status["per_shard"]) == 240  # every row's text is distinct: each computed once
    keys = _stored_keys(home)
    assert len(keys) == len(set(keys)) == 240  # and stored once

    feats, present = read_features(tmp_path / "parts", "text")
    assert feats.shape == (240, 384) and present.all()
    # The parts hold exactly what the cache holds for those rows: the whole table read back computes nothing.
    cache = FeatureCache(home / "features")
    from polymodal.encoders.materialize import choose_encoders
    from polymodal.schema import detect_schema

    encoder = choose_encoders(detect_schema(table), ["text"], {})["text"]
    whole, _ = cache.extract(encoder, pd.read_csv(table)["text"].tolist(), progress=False)
    assert cache.last.computed == 0
    assert np.array_equal(whole, feats)

    # One process over the whole table, in a cache of its own: the same features up to float rounding (other
    # batches pad the texts to other lengths and sum in another order; 1e-5 is far below any real difference).
    alone, _ = FeatureCache(tmp_path / "alone").extract(encoder, pd.read_csv(table)["text"].tolist(), progress=False)
    np.testing.assert_allclose(alone, feats, atol=1e-5)


@pytest.mark.slow
def test_a_killed_shard_resumes(tmp_path, monkeypatch):
    import shutil

    import tests.killing as killing

    table, home, parts = _texts(tmp_path, n=600), tmp_path / "home", tmp_path / "parts"
    cmd = _cli("features", "extract", str(table), "--shard", "1/2", "--out", str(parts), "--quiet", home=home)
    env = _env(home)
    timing = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)  # how long a whole run takes
    assert timing.returncode == 0, timing.stderr
    seconds = json.loads(next(parts.glob("shards/*.json")).read_text())["seconds"]
    monkeypatch.setattr(killing, "ENV", {**killing.ENV, **env})
    for _ in range(4):  # a kill that lands after the shard's record (while the process exits) kills nothing useful
        shutil.rmtree(home, ignore_errors=True)
        kill_at_random(cmd, parts, seconds=seconds, seed="sharded-extract",
                       started=lambda: (home / "features").exists())
        if not list(parts.glob("shards/*.json")):
            break
        seconds /= 2
    assert not list(parts.glob("shards/*.json"))  # killed before it finished
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    rows, present, feats = read_part(next((parts / "text").glob("part-*.arrow")))
    assert rows.tolist() == list(range(300, 600)) and present.all() and feats.shape == (300, 384)
    keys = _stored_keys(home)
    assert len(keys) == len(set(keys)) == 300  # nothing stored twice across the killed run and the resumed one


def test_parts_are_row_aligned_and_absent_cells_named(tmp_path, tiny_table):
    df = pd.read_csv(tiny_table)
    df.loc[[2, 7], "caption"] = ""
    df.to_csv(tiny_table, index=False)
    cache = FeatureCache(tmp_path / "cache")
    report = extract_shard(tiny_table, columns=["caption"], shard=Shard(1, 3), out=tmp_path / "out", cache=cache,
                           progress=False)
    assert report.rows == 4 and report.columns["caption"]["absent"] == 1
    rows, present, feats = read_part(tmp_path / "out" / "caption" / "part-00001-of-00003.arrow")
    assert rows.tolist() == [4, 5, 6, 7] and present.tolist() == [True, True, True, False]
    assert not feats[3].any() and feats[:3].any(axis=1).all()
    with pytest.raises(PolymodalError, match=r"shard\(s\) 0, 2 of 3"):
        read_features(tmp_path / "out", "caption")
    with pytest.raises(PolymodalError, match=r"holds another extraction .*shards"):
        extract_shard(tiny_table, columns=["caption"], shard=Shard(0, 2), out=tmp_path / "out", cache=cache,
                      progress=False)
    with pytest.raises(PolymodalError, match="no input column\\(s\\) nope"):
        extract_shard(tiny_table, columns=["nope"], cache=cache, progress=False)


def test_learned_encoders_are_refused(tmp_path, tiny_table):
    with pytest.raises(PolymodalError, match=r"only frozen pretrained encoders .*caption \(gru\)"):
        extract_shard(tiny_table, columns=["caption"], encoders={"text": "gru"},
                      cache=FeatureCache(tmp_path / "c"), progress=False)


def test_shards_cover_the_rows_once():
    for n in (0, 1, 7, 1000):
        for count in (1, 2, 3, 8):
            ranges = [Shard(i, count).rows(n) for i in range(count)]
            assert [r for rng in ranges for r in rng] == list(range(n))
            assert max(map(len, ranges)) - min(map(len, ranges)) <= 1


def test_shard_defaults_from_the_launcher(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN"):
        monkeypatch.delenv(name, raising=False)
    assert parse_shard(None) == Shard(0, 1)
    assert parse_shard("2/5") == Shard(2, 5)
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "4")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert parse_shard(None) == Shard(2, 4)  # --array=1-4: task 3 is the third shard
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert parse_shard(None) == Shard(1, 2)
    for bad in ("3/3", "1", "a/b", "0/0"):
        with pytest.raises(PolymodalError, match="--shard"):
            parse_shard(bad)


def test_missing_inputs_are_shared_without_overlap():
    todo = {f"k{i:03d}": i for i in range(10)}
    parts = [own_share(todo, i, 3) for i in range(3)]
    assert sorted(k for p in parts for k in p) == sorted(todo)
    assert sum(map(len, parts)) == 10


def test_caches_merge_by_copying_shard_files(tmp_path, tiny_table):
    texts = pd.read_csv(tiny_table)["caption"].tolist()
    from polymodal.encoders import build_encoder

    encoder = build_encoder("minilm")
    a, b = FeatureCache(tmp_path / "a"), FeatureCache(tmp_path / "b")
    first, _ = a.extract(encoder, texts[:6], progress=False)
    b.extract(encoder, texts[6:], progress=False)
    assert merge_caches(tmp_path / "b", tmp_path / "a") >= 1
    assert merge_caches(tmp_path / "b", tmp_path / "a") == 0  # nothing left to copy
    both, _ = a.extract(encoder, texts, progress=False)
    assert a.last.computed == 0 and np.array_equal(both[:6], first)
    with pytest.raises(PolymodalError, match="not a folder"):
        merge_caches(tmp_path / "nowhere", tmp_path / "a")


def test_a_parquet_table_is_streamed_in_row_ranges(tmp_path, tiny_table):
    """A Parquet source is read batch by batch (row groups outside the shard skipped); its parts hold one record
    batch per streamed batch, and equal those of the same rows read whole."""
    from polymodal.encoders.sharded import part_chunks
    from polymodal.training.mapped import MappedData

    df = pd.read_csv(tiny_table)
    df.loc[5, "caption"] = None
    df.to_csv(tiny_table, index=False)
    pq = tiny_table.with_suffix(".parquet")
    df.to_parquet(pq, row_group_size=4)
    cache = FeatureCache(tmp_path / "cache")
    for k in range(2):
        extract_shard(pq, columns=["caption"], shard=Shard(k, 2), out=tmp_path / "streamed", cache=cache,
                      progress=False, batch_rows=3)  # several batches per shard, cut across row groups
    extract_shard(tiny_table, columns=["caption"], out=tmp_path / "whole", cache=cache, progress=False)
    chunks = part_chunks(tmp_path / "streamed" / "caption" / "part-00001-of-00002.arrow")
    assert len(chunks) > 1 and np.concatenate([c[0] for c in chunks]).tolist() == list(range(6, 12))
    assert max(len(c[0]) for c in chunks) <= 3
    streamed, present = read_features(tmp_path / "streamed", "caption")
    whole, present_whole = read_features(tmp_path / "whole", "caption")
    assert present.tolist() == present_whole.tolist() and not present[5]
    np.testing.assert_array_equal(streamed, whole)  # the same cache entries, read back
    mapped = MappedData.from_extraction(tmp_path / "streamed", ["caption"])
    rows = np.array([11, 0, 7, 3, 6])
    np.testing.assert_array_equal(mapped.take(rows)[0]["caption"].numpy(), whole[rows])
