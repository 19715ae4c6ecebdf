"""The feature cache (and the ONNX Runtime fallbacks), with tiny encoders that count their calls."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from polymodal.data.image import ImageLoader
from polymodal.data.text import TextLoader
from polymodal.encoders import Encoder, EncoderOutput, onnx_runtime
from polymodal.encoders import cache as cache_mod
from polymodal.encoders.cache import FeatureCache, cache_info, clear_cache, extract
from polymodal.errors import PolymodalError

COLORS = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (250, 250, 0), (0, 250, 250), (120, 60, 200),
          (30, 30, 30), (200, 200, 200), (255, 128, 0), (90, 0, 40), (10, 130, 90), (160, 160, 40)]


class ImageProbe(Encoder):
    """Mean colour of an 8x8 image through a fixed linear map; counts calls, rows and threads."""

    name = "probe-image"
    roles = ("image",)
    pretrained = True

    def __init__(self, fail_on_call: int | None = None, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.proj = nn.Linear(3, 5)
        self.out_dim = 5
        self.calls, self.rows, self.fail_on_call = 0, 0, fail_on_call
        self.decode_threads: set[str] = set()
        self.decode_torch_threads: set[int] = set()
        self.set_mode("frozen").train()

    def loader(self):
        probe = self

        class Loader(ImageLoader):  # records which thread decodes, and its torch threads
            def pixels(self, path):  # what the cache decodes with (and what __call__ goes through too)
                probe.decode_threads.add(threading.current_thread().name)
                probe.decode_torch_threads.add(torch.get_num_threads())
                return super().pixels(path)

        return Loader(size=8)

    def forward(self, x):
        self.calls += 1
        if self.fail_on_call == self.calls:
            raise KeyboardInterrupt("simulated interruption")
        self.rows += len(x)
        return EncoderOutput(self.proj(x.mean((2, 3))))


class TextProbe(Encoder):
    """Hash-free toy text features: length, vowels, spaces; counts calls and rows."""

    name = "probe-text"
    roles = ("text",)
    pretrained = True

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.out_dim, self.calls, self.rows, self.seen = 3, 0, 0, []
        self.set_mode("frozen").train()

    def loader(self):
        return TextLoader()

    def forward(self, texts):
        self.calls += 1
        self.rows += len(texts)
        self.seen += list(texts)
        rows = [[len(t), sum(c in "aeiou" for c in t), t.count(" ")] for t in texts]
        return EncoderOutput(torch.tensor(rows, dtype=torch.float32) * self.scale)


@pytest.fixture
def images(tmp_path) -> list[Path]:
    from tests.conftest import write_image

    return [write_image(tmp_path / "img" / f"{i}.png", c, size=(12, 10)) for i, c in enumerate(COLORS)]


@pytest.fixture
def fc(tmp_path) -> FeatureCache:
    return FeatureCache(tmp_path / "features", shard_rows=4)


def run(fc, enc, values, **kw):
    kw.setdefault("batch_size", 4)
    kw.setdefault("backend", "torch")
    kw.setdefault("progress", False)
    return fc.extract(enc, values, **kw)


def expected(enc, paths) -> np.ndarray:
    with torch.inference_mode():
        return enc(torch.stack([enc.loader()(p) for p in paths])).pooled.numpy()


def tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".tmp")]


# ---------------------------------------------------------------- reuse


def test_first_call_computes_second_call_hits(fc, images):
    enc = ImageProbe()
    feats, present = run(fc, enc, images)
    assert feats.shape == (12, 5) and feats.dtype == np.float32 and present.all()
    np.testing.assert_allclose(feats, expected(ImageProbe(), images), atol=1e-6)
    assert enc.rows == 12 and fc.last.computed == 12

    again = ImageProbe()  # a new encoder object and a new cache object: as in the next command
    feats2, _ = run(FeatureCache(fc.root), again, images)
    assert again.calls == 0, "cached features must not call the encoder"
    np.testing.assert_array_equal(feats2, feats)


def test_only_new_inputs_are_computed(fc, images):
    enc = ImageProbe()
    run(fc, enc, images[:5])
    enc.rows = 0
    feats, _ = run(fc, enc, images)
    assert enc.rows == 7 and fc.last.cached == 5 and fc.last.computed == 7
    np.testing.assert_allclose(feats, expected(enc, images), atol=1e-6)


def test_other_weights_never_read_these_features(fc, images):
    run(fc, ImageProbe(seed=0), images)
    other = ImageProbe(seed=1)  # same id, other weights (a fine-tuned copy, say)
    feats, _ = run(fc, other, images)
    assert other.rows == 12
    np.testing.assert_allclose(feats, expected(other, images), atol=1e-6)


def test_relative_paths_resolve_against_base_dir(fc, images, tmp_path):
    enc = ImageProbe()
    feats, _ = run(fc, enc, [str(p.relative_to(tmp_path)) for p in images[:3]], base_dir=tmp_path)
    np.testing.assert_allclose(feats, expected(enc, images[:3]), atol=1e-6)


# ---------------------------------------------------------------- interruption


def test_interrupted_extraction_resumes(fc, images, tmp_path):
    reference, _ = run(FeatureCache(tmp_path / "ref", shard_rows=4), ImageProbe(), images)

    broken = ImageProbe(fail_on_call=2)  # the first batch (one shard) completes, the second raises
    with pytest.raises(KeyboardInterrupt):
        run(fc, broken, images)
    store = fc.store(broken)
    assert len(store.shards()) == 1 and store.entries() == 4
    assert not tmp_files(fc.root)

    resumed = ImageProbe()
    feats, present = run(fc, resumed, images)
    assert resumed.rows == 8 and resumed.calls == 2, "only what was missing is computed"
    assert present.all()
    np.testing.assert_array_equal(feats, reference)


KILLED_SCRIPT = """
import sys, time, torch
sys.path.insert(0, {tests!r})
from test_cache import ImageProbe
from polymodal.encoders.cache import FeatureCache

class Slow(ImageProbe):
    def forward(self, x):
        time.sleep(0.15)
        return super().forward(x)

paths = sys.argv[1:]
FeatureCache({root!r}, shard_rows=4).extract(Slow(), paths, batch_size=4, backend="torch", progress=False)
print("finished")
"""


def test_killed_extraction_keeps_finished_shards(fc, images, tmp_path):
    script = tmp_path / "extract.py"
    script.write_text(KILLED_SCRIPT.format(tests=str(Path(__file__).parent), root=str(fc.root)))
    paths = [str(p) for p in [*images, *_more_images(tmp_path, 36)]]
    proc = subprocess.Popen([sys.executable, str(script), *paths], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(fc.root.rglob("shard-*"))) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # no clean-up code runs
    finally:
        proc.wait()
    done = len(list(fc.root.rglob("shard-*")))
    assert 2 <= done < len(paths) // 4, "killed before the end, after some shards"

    enc = ImageProbe()
    feats, _ = run(fc, enc, paths)
    assert enc.rows == len(paths) - 4 * done
    np.testing.assert_allclose(feats, expected(ImageProbe(), paths), atol=1e-6)


def _more_images(tmp_path, n) -> list[Path]:
    from tests.conftest import write_image

    rng = np.random.default_rng(1)
    return [write_image(tmp_path / "more" / f"{i}.png", tuple(int(v) for v in rng.integers(0, 256, 3)), size=(9, 9))
            for i in range(n)]


# ---------------------------------------------------------------- cells


def test_absent_cells_are_zero_and_not_present(fc, images):
    enc = ImageProbe()
    values = [images[0], None, float("nan"), "", "   ", images[1]]
    feats, present = run(fc, enc, values)
    assert present.tolist() == [True, False, False, False, False, True]
    assert feats.shape == (6, 5)
    assert not feats[1:5].any() and feats[0].any() and feats[5].any()
    assert enc.rows == 2


def test_all_absent_calls_nothing(fc):
    pd = pytest.importorskip("pandas")
    enc = ImageProbe()
    feats, present = run(fc, enc, [None, pd.NA, ""])
    assert feats.shape == (3, 5) and not feats.any() and not present.any() and enc.calls == 0


def test_duplicates_are_computed_once(fc, images, tmp_path):
    copy = tmp_path / "copy-of-0.png"
    shutil.copy(images[0], copy)
    enc = ImageProbe()
    feats, _ = run(fc, enc, [images[0], images[1], images[0], copy, images[1]])
    assert enc.rows == 2, "same content (same path or a copy) is one entry"
    np.testing.assert_array_equal(feats[0], feats[2])
    np.testing.assert_array_equal(feats[0], feats[3])
    np.testing.assert_array_equal(feats[1], feats[4])
    assert not np.array_equal(feats[0], feats[1])


def test_text_keys_use_the_normalised_string(fc):
    enc = TextProbe()
    feats, present = run(fc, enc, ["a red  apple", "a red apple", " a red apple\n", "blue sky", None, "  "])
    assert enc.seen == ["a red apple", "blue sky"]
    assert present.tolist() == [True, True, True, True, False, False]
    np.testing.assert_array_equal(feats[0], [11, 4, 2])
    np.testing.assert_array_equal(feats[1], feats[2])
    np.testing.assert_array_equal(feats[3], [8, 2, 1])
    enc2 = TextProbe()
    run(FeatureCache(fc.root), enc2, ["blue   sky"])
    assert enc2.calls == 0


def test_missing_files_are_listed_with_rows(fc, images, tmp_path):
    with pytest.raises(PolymodalError, match=r"row 1: file not found.*\n.*row 3"):
        run(fc, ImageProbe(), [images[0], tmp_path / "gone.png", images[1], "also/gone.jpg"])


def test_a_trainable_encoder_is_refused(fc, images):
    enc = ImageProbe().set_mode("full")
    with pytest.raises(PolymodalError, match="frozen"):
        run(fc, enc, images)


# ---------------------------------------------------------------- storage


def test_writes_are_atomic(fc, images, monkeypatch):
    run(fc, ImageProbe(), images[:4])
    assert not tmp_files(fc.root)

    real = cache_mod.save_file

    def dies_mid_write(tensors, filename, metadata=None):
        real(tensors, filename, metadata=metadata)
        Path(filename).write_bytes(Path(filename).read_bytes()[:20])  # half a file, then the disk fails
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod, "save_file", dies_mid_write)
    store = fc.store(ImageProbe())
    before = store.shards()
    with pytest.raises(OSError):
        run(fc, ImageProbe(), images)
    assert store.shards() == before, "a failed write leaves no shard"
    assert not tmp_files(fc.root), "and no temp file"
    monkeypatch.setattr(cache_mod, "save_file", real)
    feats, _ = run(fc, ImageProbe(), images)
    np.testing.assert_allclose(feats, expected(ImageProbe(), images), atol=1e-6)


def test_shards_follow_shard_rows(tmp_path, images):
    fc = FeatureCache(tmp_path / "f", shard_rows=8)
    enc = ImageProbe()
    run(fc, enc, images)
    sizes = sorted(len(fc.store(enc).keys(s)) for s in fc.store(enc).shards())
    assert sizes == [4, 8]


def test_small_shards_are_compacted(fc, images, monkeypatch):
    monkeypatch.setattr(cache_mod, "COMPACT_AT", 3)
    enc = ImageProbe()
    for p in images[:6]:
        run(fc, enc, [p])
    store = fc.store(enc)
    sizes = sorted(len(store.keys(s)) for s in store.shards())
    assert len(sizes) <= 3 and sum(sizes) == 6
    assert sizes[-1] == 4, "small shards merge, up to shard_rows"
    again = ImageProbe()
    feats, _ = run(fc, again, images[:6])
    assert again.calls == 0
    np.testing.assert_allclose(feats, expected(again, images[:6]), atol=1e-6)


def test_info_and_clear(tmp_path, images, monkeypatch):
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path / "home"))
    img, txt = ImageProbe(), TextProbe()
    extract(img, images[:5], batch_size=4, backend="torch", progress=False)
    extract(txt, ["a", "b", "a"], backend="torch", progress=False)
    info = cache_info()
    assert set(info) == {img.id, txt.id}
    assert info[img.id]["entries"] == 5 and info[txt.id]["entries"] == 2
    assert info[img.id]["bytes"] > 5 * 5 * 4
    assert (tmp_path / "home" / "features").is_dir()

    assert clear_cache(img.id) == 5
    assert set(cache_info()) == {txt.id}
    assert clear_cache("probe-text") == 2  # a name clears every version of that encoder
    assert cache_info() == {}
    extract(txt, ["c"], backend="torch", progress=False)
    assert clear_cache() == 1 and cache_info() == {}


def test_cache_commands(tmp_path, images, monkeypatch, capsys):
    """`polymodal cache info` lists what `extract` stored; `polymodal cache clear [--encoder]` deletes it."""
    from polymodal.cli import main

    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "300")  # keep the table's encoder ids on one line
    img, txt = ImageProbe(), TextProbe()
    extract(img, images[:3], batch_size=4, backend="torch", progress=False)
    extract(txt, ["a", "b"], backend="torch", progress=False)
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert img.id in out and txt.id in out
    assert main(["cache", "clear", "--encoder", txt.id]) == 0
    assert f"cleared: 2 entries of {txt.id}" in capsys.readouterr().out
    assert set(cache_info()) == {img.id}
    assert main(["cache", "clear", "--encoder", "nope"]) == 2  # not "cleared": nothing of that name is there
    assert "holds no entries of encoder 'nope'" in capsys.readouterr().err and set(cache_info()) == {img.id}
    assert main(["cache", "clear"]) == 0 and cache_info() == {}
    main(["cache", "info"])
    assert img.id not in capsys.readouterr().out


# ---------------------------------------------------------------- pipeline


def test_decoding_runs_in_worker_threads(fc, images):
    enc = ImageProbe()
    main_threads = torch.get_num_threads()
    run(fc, enc, images, workers=2)
    assert enc.decode_threads and all(n.startswith("polymodal-decode") for n in enc.decode_threads)
    assert enc.decode_torch_threads == {1}, "decoding threads must not fan out into OpenMP teams"
    assert torch.get_num_threads() == main_threads, "the encoder's thread keeps all its threads"
    inline = ImageProbe()
    run(FeatureCache(fc.root.parent / "other"), inline, images, workers=0)
    assert inline.decode_threads == {threading.current_thread().name}


def test_prefetch_keeps_order_and_decodes_ahead():
    started: list[int] = []

    def decode(i):
        started.append(i)
        time.sleep(0.01)
        return i * 10

    seen = []
    for chunk, value in cache_mod.prefetch(range(8), decode, 2):
        seen.append((chunk, value))
        if chunk == 0:
            time.sleep(0.05)  # while the "encoder" works on batch 0, later batches are decoded
            assert len(started) >= 3
    assert seen == [(i, i * 10) for i in range(8)]


# ---------------------------------------------------------------- ONNX Runtime path and fallbacks


def test_cache_through_onnx_runtime(fc, images, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path / "home"))
    enc = ImageProbe()
    feats, _ = run(fc, enc, images, backend="auto", batch_size=2)
    assert fc.last.backend == "onnxruntime"
    assert enc.calls <= 2, "of 6 batches, PyTorch runs only to trace the export and check parity"
    np.testing.assert_allclose(feats, expected(ImageProbe(), images), atol=1e-5)
    assert len(list((tmp_path / "home" / "onnx").glob("*.onnx"))) == 1
    assert not tmp_files(tmp_path / "home")


def test_an_encoder_that_does_not_export_runs_its_own_forward(fc, images, tmp_path, monkeypatch):
    """exports = False (a CTranslate2 model behind a torch-looking encoder): tracing it would record
    its output as a constant, so it never goes to ONNX, even where its input is a tensor."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path / "home"))
    enc = ImageProbe(seed=7)
    enc.exports = False
    assert onnx_runtime.fast_forward(enc).backend == "torch"
    with pytest.raises(PolymodalError, match="exports = False"):
        onnx_runtime.fast_forward(enc, backend="onnx")
    feats, _ = run(fc, enc, images[:4], backend="auto", batch_size=2)
    assert fc.last.backend == "torch" and not (tmp_path / "home" / "onnx").exists()
    np.testing.assert_allclose(feats, expected(ImageProbe(seed=7), images[:4]), atol=1e-6)


def test_image_encoder_runs_from_pixels(images, tmp_path, monkeypatch):
    """uint8 pixels in, normalisation inside the exported graph: the same features as the float path."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path / "home"))
    enc = ImageProbe(seed=5)
    pixels = torch.from_numpy(np.stack([enc.loader().pixels(p) for p in images[:4]]))
    assert pixels.dtype == torch.uint8 and pixels.shape == (4, 8, 8, 3)
    for backend in ("onnx", "torch"):
        fast = onnx_runtime.fast_forward(enc, backend=backend, pixels=True)
        np.testing.assert_allclose(fast(pixels), expected(enc, images[:4]), atol=1e-5)
    assert fast.backend == "torch"
    float_graph = onnx_runtime.onnx_file(enc, onnx_runtime.weights_digest(enc))
    assert onnx_runtime.onnx_file(enc, onnx_runtime.weights_digest(enc), pixels=True) != float_graph
    with pytest.raises(PolymodalError, match="cannot run from pixels"):
        onnx_runtime.fast_forward(TextProbe(), pixels=True)


def test_parity_failure_falls_back_to_torch(images, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(onnx_runtime, "PARITY_TOLERANCE", -1.0)  # any difference at all fails
    enc = ImageProbe(seed=3)
    x = torch.stack([enc.loader()(p) for p in images[:4]])
    fast = onnx_runtime.fast_forward(enc)
    with pytest.warns(RuntimeWarning, match="differ"):
        out = fast(x)
    assert fast.backend == "torch"
    np.testing.assert_array_equal(out, expected(enc, images[:4]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast(x)  # warns once, then stays on PyTorch quietly
    assert onnx_runtime.fast_forward(enc).backend == "torch", "the verdict holds for this process"
    with pytest.raises(PolymodalError):
        onnx_runtime.fast_forward(enc, backend="onnx")


def test_a_damaged_onnx_file_is_exported_again(images, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path))
    enc = ImageProbe(seed=4)
    path = onnx_runtime.onnx_file(enc, onnx_runtime.weights_digest(enc))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an onnx model")
    x = torch.stack([enc.loader()(p) for p in images[:3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = onnx_runtime.fast_forward(enc)
        np.testing.assert_allclose(fast(x), expected(enc, images[:3]), atol=1e-5)
    assert fast.backend == "onnxruntime" and path.stat().st_size > 100


def test_torch_is_used_when_onnx_cannot_be(images, monkeypatch):
    enc = ImageProbe()
    assert onnx_runtime.fast_forward(enc, backend="torch").backend == "torch"
    assert onnx_runtime.fast_forward(ImageProbe().set_mode("last")).backend == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = onnx_runtime.fast_forward(TextProbe())  # strings in, no onnx_inputs(): PyTorch, quietly
        assert text.backend == "torch" and "not a tensor" in text.reason
        assert text(["ab c"]).tolist() == [[4, 1, 1]]
    monkeypatch.setenv("POLYMODAL_ONNX", "0")
    assert onnx_runtime.fast_forward(enc).backend == "torch"
    with pytest.raises(PolymodalError, match="ONNX"):
        onnx_runtime.fast_forward(enc, backend="onnx")
    with pytest.raises(PolymodalError, match="backend"):
        onnx_runtime.fast_forward(enc, backend="tensorrt")


def test_onnx_file_follows_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path))
    a, b = ImageProbe(seed=0), ImageProbe(seed=1)
    da, db = onnx_runtime.weights_digest(a), onnx_runtime.weights_digest(b)
    assert da == onnx_runtime.weights_digest(ImageProbe(seed=0)) and da != db
    assert onnx_runtime.onnx_file(a, da) != onnx_runtime.onnx_file(b, db)
    assert onnx_runtime.onnx_file(a, da).parent == tmp_path / "onnx"
    with torch.no_grad():
        a.proj.weight.add_(1e-3)  # fine-tuned in place: the (memoised) digest must follow
    assert onnx_runtime.weights_digest(a) != da
    a.proj.bias = nn.Parameter(b.proj.bias.detach().clone())
    assert onnx_runtime.weights_digest(a) not in (da, db)


def test_progress_bar_only_on_a_terminal(fc, images, capsys):
    run(fc, ImageProbe(), images, progress=True)
    assert "probe-image" not in capsys.readouterr().err  # pytest's stderr is not a TTY



def test_extract_iter_streams_chunks(fc, images):
    """Chunk by chunk from a generator, each chunk cached before it is yielded; together they equal one extract."""
    enc = ImageProbe()
    values = [images[0], None, *images[1:7]]
    seen = []
    for feats, present in fc.extract_iter(enc, (v for v in values), chunk_rows=3, batch_size=4, backend="torch",
                                          progress=False):
        seen.append((feats, present))
        assert len(present) <= 3
    assert [len(p) for _, p in seen] == [3, 3, 2]
    feats = np.concatenate([f for f, _ in seen])
    present = np.concatenate([p for _, p in seen])
    again = ImageProbe()
    whole, whole_present = run(fc, again, values)
    assert again.calls == 0 and present.tolist() == whole_present.tolist()
    np.testing.assert_array_equal(feats, whole)
