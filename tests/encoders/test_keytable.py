"""The feature cache's key table on disk (encoders/keytable.py): derived from the shard files, kept in step with
them, rebuilt when damaged, in memory where the folder is read-only, and compaction by one process at a time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from polymodal.encoders import cache as cache_mod
from polymodal.encoders.cache import FeatureCache
from polymodal.encoders.keytable import FILE, KeyTable

from .test_cache import COLORS, ImageProbe, expected, run


@pytest.fixture
def images(tmp_path):
    from tests.conftest import write_image

    return [write_image(tmp_path / "img" / f"{i}.png", c, size=(12, 10)) for i, c in enumerate(COLORS)]


def test_lookup_follows_the_shard_files(tmp_path, images):
    fc = FeatureCache(tmp_path / "f", shard_rows=4)
    enc = ImageProbe()
    run(fc, enc, images[:8])
    store = fc.store(enc)
    assert (store.folder / FILE).exists() and store.entries() == 8
    keys = [k for s in store.shards() for k in store.keys(s)]
    found = store.lookup([*keys, "0" * 40])
    assert set(found) == set(keys), "every cached key, and nothing else"
    assert all(store.keys(shard)[row] == key for key, (shard, row) in found.items())
    gone = store.shards()[0]
    lost = set(store.keys(gone))
    gone.unlink()  # as a compaction or a manual cleanup would
    assert set(store.lookup(keys)) == set(keys) - lost and store.entries() == 8 - len(lost)


def test_shards_copied_in_from_another_cache_are_found(tmp_path, images):
    other, mine = FeatureCache(tmp_path / "other"), FeatureCache(tmp_path / "mine")
    run(other, ImageProbe(), images[:6])
    run(mine, ImageProbe(), images[6:])
    src, dst = other.store(ImageProbe()).folder, mine.store(ImageProbe()).folder
    for shard in src.glob("shard-*"):
        (dst / shard.name).write_bytes(shard.read_bytes())
    again = ImageProbe()
    feats, _ = run(mine, again, images)
    assert again.calls == 0, "the copied shards' keys joined the table"
    np.testing.assert_allclose(feats, expected(again, images), atol=1e-6)


def test_a_key_in_two_shards_is_read_from_the_oldest(tmp_path, images):
    fc = FeatureCache(tmp_path / "f")
    enc = ImageProbe()
    run(fc, enc, images[:2])
    store = fc.store(enc)
    first = store.shards()[0]
    key = store.keys(first)[0]
    store.write([key], np.full((1, 5), 7.0, np.float32))  # a later writer of the same key
    assert store.lookup([key])[key] == (first, 0)
    assert store.entries() == 2


def test_a_damaged_table_is_rebuilt(tmp_path, images):
    fc = FeatureCache(tmp_path / "f")
    run(fc, ImageProbe(), images[:5])
    path = fc.store(ImageProbe()).folder / FILE
    for extra in path.parent.glob(FILE + "-*"):
        extra.unlink()
    path.write_bytes(b"this is not a database" * 100)
    again = ImageProbe()
    feats, _ = run(fc, again, images[:5])
    assert again.calls == 0
    np.testing.assert_allclose(feats, expected(again, images[:5]), atol=1e-6)


def test_a_table_that_cannot_be_written_is_kept_in_memory(tmp_path, images):
    fc = FeatureCache(tmp_path / "f")
    run(fc, ImageProbe(), images[:5])
    folder = fc.store(ImageProbe()).folder
    for p in folder.glob(FILE + "*"):
        p.unlink()
    (folder / FILE).mkdir()  # SQLite cannot open it, as with a read-only folder (root ignores permissions)
    again = ImageProbe()
    feats, _ = run(fc, again, images[:5])
    assert again.calls == 0 and (folder / FILE).is_dir()
    np.testing.assert_allclose(feats, expected(again, images[:5]), atol=1e-6)
    assert KeyTable(folder)._connect().execute("PRAGMA database_list").fetchone()[2] == "", "in memory"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_compaction_runs_in_one_process_at_a_time(tmp_path, images, monkeypatch):
    monkeypatch.setattr(cache_mod, "COMPACT_AT", 3)
    fc = FeatureCache(tmp_path / "f", shard_rows=4)
    enc = ImageProbe()
    for p in images[:4]:
        run(fc, enc, [p])  # each call compacts at its end: hold the lock first to see it skip
    store = fc.store(enc)
    lock = store.folder / "compact.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))  # a live holder
    for p in images[4:7]:
        run(fc, enc, [p])
    held = len(store.shards())
    assert held >= 3, "while another process compacts, this one leaves the shards alone"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid()}))  # its holder died
    store.compact(fc.shard_rows)
    assert len(store.shards()) < held and not lock.exists(), "a dead holder's lock is taken over, then released"
    again = ImageProbe()
    feats, _ = run(fc, again, images[:7])
    assert again.calls == 0
    np.testing.assert_allclose(feats, expected(again, images[:7]), atol=1e-6)
