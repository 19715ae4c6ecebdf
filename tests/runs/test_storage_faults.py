"""Where a command writes can fail under it: a full disk and a read-only folder.

A full disk is a real small file system (a tmpfs of a few hundred kB) where this process may mount one
(root, as on CI); a read-only folder is a read-only tmpfs for root (root writes through permission
bits) and a folder without write permission for anyone else. Where neither can be made, those tests
skip and say why; the monkeypatched write below runs everywhere."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.encoders.test_cache import ImageProbe, run

import polymodal as pm
from polymodal.cli import main
from polymodal.encoders.cache import FeatureCache
from polymodal.errors import PolymodalError
from polymodal.index import VectorIndex
from polymodal.runs import directory
from polymodal.runs.files import atomic_write, storage_error

GENERATOR = ["fit", "--task", "text-to-image", "--model", "cvae", "--text-encoder", "gru", "--image-size", "16",
             "--epochs", "2", "--batch-size", "16", "--no-evaluate"]


def _mount(folder: Path, options: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a file system of 256 kB: big enough for a run's first files, too small for its weights."""
    folder = tmp_path / "disk"
    if not _mount(folder, "size=256k"):
        pytest.skip("a small file system needs root and mount (tmpfs); the monkeypatched write test still runs")
    yield folder
    _umount(folder)


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "ro"
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
    elif _mount(folder, "size=64k,ro"):
        yield folder
        _umount(folder)
    else:
        pytest.skip("root writes through permission bits, and no read-only tmpfs could be mounted here")


# ------------------------------------------------------------------------------- read-only --out
@pytest.mark.parametrize("command", [
    ["fit", "{table}", "--label", "color", "--out", "{out}"],
    ["align", "{table}", "--pair", "photo,caption", "--out", "{out}"],
    ["fit", "{table}", "--task", "caption", "--out", "{out}"],
    ["data", "build", "shapes", "--size", "8", "--out", "{out}"],
    ["index", "build", "{run}", "{table}", "--column", "photo", "--out", "{out}"],
], ids=["fit", "align", "caption", "data-build", "index-build"])
def test_a_read_only_out_is_refused_before_any_work(command, read_only, table, index_folder, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the destination was checked")

    monkeypatch.setattr(FeatureCache, "extract", no_work)
    out = read_only / "run"
    argv = [a.format(table=table, out=out, run=index_folder.parent / "align") for a in command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: cannot write in {read_only}" in err, err
    assert "read-only" in err or "permission denied" in err, err
    assert "Traceback" not in err and not out.exists()


# ------------------------------------------------------------------------------------ full disk
@pytest.mark.slow
def test_a_fit_on_a_full_disk_is_a_named_error_and_resumes_once_there_is_room(tiny_shapes, small_disk, capsys):
    run_dir = small_disk / "run"
    assert main([GENERATOR[0], str(tiny_shapes), *GENERATOR[1:], "--out", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {run_dir}" in err and "the disk is full" in err and "Traceback" not in err, err
    assert not (run_dir / directory.MARKER).exists()  # never passes for a finished run
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
    assert main([GENERATOR[0], str(tiny_shapes), *GENERATOR[1:], "--out", str(run_dir), "--resume"]) == 0
    assert pm.load(run_dir).kind == "generator" and not list(run_dir.rglob(".*.tmp"))


@pytest.mark.slow
def test_adding_to_an_index_on_a_full_disk_keeps_the_old_index(index_folder, table, small_disk, capsys):
    folder = small_disk / "photos"
    shutil.copytree(index_folder, folder)
    before = VectorIndex.load(folder)
    free = shutil.disk_usage(small_disk).free
    (small_disk / "ballast").write_bytes(b"\0" * max(free - 4096, 0))  # less room than the grown index needs
    assert main(["index", "build", str(index_folder.parent / "align"), str(table), "--column", "photo", "--add",
                 "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "the disk is full" in err and "Traceback" not in err, err
    after = VectorIndex.load(folder)
    assert len(after) == len(before)
    np.testing.assert_array_equal(after.vectors(), before.vectors())


def test_a_feature_cache_on_a_full_disk_keeps_its_shards(small_disk, tmp_path):
    from tests.conftest import write_image

    fc = FeatureCache(small_disk / "features", shard_rows=4)
    first = [write_image(tmp_path / "img" / f"{i}.png", (10 * i, 0, 0), size=(9, 9)) for i in range(8)]
    before, _ = run(fc, ImageProbe(), first)
    shards = sorted(p.name for p in fc.root.rglob("shard-*"))
    free = shutil.disk_usage(small_disk).free
    (small_disk / "ballast").write_bytes(b"\0" * max(free - 1024, 0))
    more = [write_image(tmp_path / "more" / f"{i}.png", (0, 10 * i, 0), size=(9, 9)) for i in range(64)]
    with pytest.raises(PolymodalError, match="the disk is full"):
        run(FeatureCache(fc.root, shard_rows=4), ImageProbe(), [*first, *more])
    assert sorted(p.name for p in fc.root.rglob("shard-*"))[:len(shards)] == shards
    again, _ = run(FeatureCache(fc.root, shard_rows=4), ImageProbe(), first)
    np.testing.assert_array_equal(again, before)  # the shards written before the disk filled still read back


# ------------------------------------------------------------------------- everywhere (no mount)
def test_a_write_that_fails_for_lack_of_space_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = atomic_write(tmp_path / "metrics.json", "old")

    def full(tmp):
        Path(tmp).write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(PolymodalError, match=rf"cannot write {path}: the disk is full"):
        atomic_write(path, full)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("exc, named", [
    (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
    (OSError(errno.EROFS, "Read-only file system"), "the file system is read-only"),
    (RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"), "the disk is full"),
    (OSError(errno.ENOENT, "No such file or directory"), None),
    (ValueError("bad value"), None),
])
def test_storage_errors_are_recognised_by_errno_or_by_the_wrapped_text(exc, named):
    found = storage_error(exc, "x.bin")
    assert (found is None) if named is None else (named in str(found) and "x.bin" in str(found))
