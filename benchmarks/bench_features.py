"""Feature-extraction benchmark: images/s from JPEG files into the feature cache, EfficientNet-Lite0.

Three ways to get the same 1280-d features, on the same machine and in the same process:

- polymodal: `FeatureCache(empty folder).extract(encoder, paths)`: hash the files, decode and
  preprocess them in threads while ONNX Runtime runs, write the shards. A cold feature cache on
  every timed pass; the ONNX export and the session are made once, in the warm-up pass.
- raw ONNX Runtime: `session.run` (intra-op threads = cores) on the same preprocessed batches,
  already in memory, one after another (no files, no decoding, no cache): the reference
  (target: polymodal >= 0.9 of it). polymodal feeds uint8 pixels to a graph that starts with
  the normalisation, so the reference runs that same graph on the same uint8 batches; the
  plain encoder graph on float batches (normalised beforehand) is shown too, as is the pixel
  graph run as concurrent one-thread calls.
- PyTorch eager: `encoder(batch)` under `torch.inference_mode()` on the same batches in memory.

Each figure is the median of `--repeats` timed passes after one warm-up pass; the cases run
round-robin, so a noisy neighbour slows them alike. The figures go into BENCHMARKS.md between
the `features` markers; other sections of that file are left as they are.

    python benchmarks/bench_features.py --images 256 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import common
from polymodal.data.image import read_image
from polymodal.encoders import build_encoder
from polymodal.encoders.cache import FeatureCache
from polymodal.encoders.onnx_runtime import cores, fast_forward


def photo_like(rng: np.random.Generator, width: int = 640, height: int = 480) -> np.ndarray:
    """Gradients, soft blobs and sensor-like noise: a JPEG of it is about the size of a photo's."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    for c in range(3):
        (a, b), f = rng.uniform(-0.3, 0.3, size=2), rng.uniform(0.005, 0.03)
        img[..., c] = 128 + a * (x - width / 2) + b * (y - height / 2) + 40 * np.sin(f * x + rng.uniform(0, 6))
    for _ in range(4):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(30, 150)
        img += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None] * rng.uniform(-90, 90, size=3)
    img += rng.normal(0, 10, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        paths.append(folder / f"{i:05d}.jpg")
        Image.fromarray(photo_like(rng)).save(paths[-1], quality=90)
    return paths


def timed(cases: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Median images/s of each case; each callable does one full pass and returns its image count."""
    for run in cases.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in cases}
    counts: dict[str, int] = {}
    for _ in range(repeats):
        for name, run in cases.items():
            t0 = time.perf_counter()
            counts[name] = run()
            times[name].append(time.perf_counter() - t0)
    return {name: counts[name] / statistics.median(times[name]) for name in cases}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    import onnxruntime

    load = f", load average before the run {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    pinned = f" (pinned, of {os.cpu_count()})" if cores() != os.cpu_count() else ""
    return (f"{cpu}, {cores()} cores{pinned}{load}; Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__} ({cores()} intra-op threads)")


def bench(paths: list[Path], tmp: Path, batch_size: int, workers: int, repeats: int, eager_images: int) -> dict:
    encoder = build_encoder("efficientnet-lite0")
    loader = encoder.loader()
    chunks = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    batches = [torch.stack([loader(p) for p in c]) for c in chunks]
    arrays = [b.numpy() for b in batches]
    pixel_arrays = [np.stack([loader.pixels(p) for p in c]) for c in chunks]
    eager_batches = batches[:max(1, eager_images // batch_size)]

    t0 = time.perf_counter()
    fast = fast_forward(encoder, backend="onnx", pixels=True)  # the graph the feature cache runs
    fast(torch.from_numpy(pixel_arrays[0]))  # export (or reuse the file), start the session, check parity
    first_use = time.perf_counter() - t0
    fast.single(torch.from_numpy(pixel_arrays[0]))  # starts the one-thread session that concurrent calls share
    session, single = fast.runtime.session, fast.runtime.single
    plain = fast_forward(encoder, backend="onnx")  # the encoder alone, on normalised float batches
    plain(batches[0])
    plain_session = plain.runtime.session
    passes = iter(range(10**6))

    def polymodal(w: int) -> Callable[[], int]:
        def run() -> int:
            cache = FeatureCache(tmp / "features" / f"w{w}-{next(passes)}")  # cold: a new, empty folder
            feats, _ = cache.extract(encoder, paths, batch_size=batch_size, workers=w, progress=False)
            assert feats.shape == (len(paths), 1280)
            return len(paths)
        return run

    def raw_onnx() -> int:
        for a in pixel_arrays:
            session.run(None, {"x": a})
        return len(paths)

    def raw_float() -> int:
        for a in arrays:
            plain_session.run(None, {"x": a})
        return len(paths)

    def raw_concurrent() -> int:
        with ThreadPoolExecutor(cores()) as pool:
            list(pool.map(lambda a: single.run(None, {"x": a}), pixel_arrays))
        return len(paths)

    def eager() -> int:
        with torch.inference_mode():
            for b in eager_batches:
                encoder(b)
        return sum(len(b) for b in eager_batches)

    cases = {"raw": raw_onnx, "raw_float": raw_float, "raw_conc": raw_concurrent, "poly": polymodal(workers),
             "poly0": polymodal(0), "eager": eager}
    rates = timed(cases, repeats)
    return {**rates, "first_use_s": first_use, "parity": fast.parity, "eager_images": sum(map(len, eager_batches)),
            **cpu_costs(paths, loader, single, pixel_arrays)}


def cpu_costs(paths: list[Path], loader, single, pixel_arrays: list[np.ndarray]) -> dict[str, float]:
    """CPU milliseconds per image (this thread's CPU time, so other processes' load counts little):
    decoding to normalised floats, decoding to uint8 pixels (and the JPEG decode within it), and a
    one-thread ONNX Runtime forward."""
    def per_image(fn: Callable[[], object], n: int) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.thread_time()
            fn()
            best = min(best, (time.thread_time() - t0) * 1000 / n)
        return best

    sample, threads = paths[:64], torch.get_num_threads()
    torch.set_num_threads(1)  # as in the cache's decoding threads (an OpenMP team would spin on CPU time)
    try:
        return {"cpu_float": per_image(lambda: torch.stack([loader(p) for p in sample]), len(sample)),
                "cpu_pixels": per_image(lambda: np.stack([loader.pixels(p) for p in sample]), len(sample)),
                "cpu_jpeg": per_image(lambda: [read_image(p, loader.size) for p in sample], len(sample)),
                "cpu_ort": per_image(lambda: single.run(None, {"x": pixel_arrays[0]}), len(pixel_arrays[0]))}
    finally:
        torch.set_num_threads(threads)


def to_markdown(r: dict, info: str, command: str, n: int, repeats: int, batch_size: int, workers: int) -> str:
    n_cores = cores()
    rows = [
        ("polymodal `FeatureCache.extract`, cold cache, JPEG files on disk", f"workers={workers}", r["poly"]),
        ("polymodal `FeatureCache.extract`, cold cache, JPEG files on disk", "workers=0 (no overlap)", r["poly0"]),
        (f"**(a)** raw ONNX Runtime `session.run` ({n_cores} intra-op threads), uint8 batches in memory, one "
         "after another (the graph polymodal runs: normalisation + encoder)", "-", r["raw"]),
        (f"raw ONNX Runtime, plain encoder graph on normalised float batches in memory ({n_cores} intra-op "
         "threads)", "-", r["raw_float"]),
        (f"raw ONNX Runtime, {n_cores} one-thread `session.run` calls at once, batches in memory", "-",
         r["raw_conc"]),
        ("**(b)** PyTorch eager `encoder(batch)`, batches in memory", "-", r["eager"]),
    ]
    lines = [
        "## Features: EfficientNet-Lite0 extraction into the feature cache",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {info}.",
        "",
        f"Inputs, built by the script: {n} photo-like JPEGs, 640x480 (gradients + blobs + noise). Batch "
        f"{batch_size}. Images/s are medians of {repeats} timed passes after one warm-up pass; the cases run "
        f"round-robin. Ratio = images/s / raw ONNX Runtime images/s (target for polymodal: >= 0.90). PyTorch "
        f"eager runs on the first {r['eager_images']} images only (it is slow); its rate is per image all the same.",
        "",
        "| what | decoding | images/s | ratio to (a) | ratio to the float graph |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [f"| {what} | {how} | {v:,.1f} | {v / r['raw']:.2f} | {v / r['raw_float']:.2f} |"
              for what, how, v in rows]
    lines += [
        "",
        f"Target (polymodal workers={workers} >= 0.90 of (a)): **{'met' if r['poly'] >= 0.9 * r['raw'] else 'not met'}"
        f"** ({r['poly'] / r['raw']:.2f}); against the float-input graph {r['poly'] / r['raw_float']:.2f}, and "
        f"against the best raw arrangement (concurrent one-thread calls) {r['poly'] / r['raw_conc']:.2f}.",
        "",
        f"CPU time per image, one thread (CPU time, so other processes' load counts little): decoding to "
        f"uint8 pixels (what the cache decodes) {r['cpu_pixels']:.2f} ms, decoding to normalised float tensors "
        f"(the loader's `__call__`, what it decoded before) {r['cpu_float']:.2f} ms, a one-thread ONNX Runtime "
        f"forward {r['cpu_ort']:.2f} ms. On a machine where the encoder alone fills every core, the decoding "
        "has to share those cores: a ceiling of about ort / (ort + decoding) = "
        f"{r['cpu_ort'] / (r['cpu_ort'] + r['cpu_pixels']):.2f} of the concurrent raw rate "
        f"(was {r['cpu_ort'] / (r['cpu_ort'] + r['cpu_float']):.2f} with float decoding). Of the decoding, "
        f"the JPEG decode itself (libjpeg-turbo through Pillow, at reduced scale) is {r['cpu_jpeg']:.2f} ms and "
        f"the crop and resize the rest: even a free resize would leave a ceiling of "
        f"{r['cpu_ort'] / (r['cpu_ort'] + r['cpu_jpeg']):.2f}, so on {n_cores} cores the 0.90 target needs "
        "images that decode in well under a millisecond (or cores to spare).",
    ]
    lines += [
        "",
        f"- ONNX Runtime vs PyTorch eager: {r['raw'] / r['eager']:.1f}x. Parity on the first batch "
        f"(max abs diff of the pooled features): {r['parity']:.1e}.",
        f"- First use in a process (export to ONNX or reuse of the cached file, session start, parity "
        f"check on one batch): {r['first_use_s']:.1f} s, paid once per process, not per call.",
        "- polymodal's passes include what the raw calls do not: reading and sha1-hashing every file, "
        "JPEG decoding (reduced-scale `draft`), crop and resize, and writing safetensors "
        f"shards atomically. With `workers=0` that costs {1000 / r['poly0'] - 1000 / r['raw']:.1f} ms per image "
        "on top of (a). (a) keeps every core busy with the encoder alone, so on a small CPU the decoding "
        "cannot be hidden completely: it is the gap between the first row and (a).",
        f"- How it keeps up: after the first batch (which runs alone on all cores and checks parity), each "
        f"of {max(workers, n_cores + 1)} threads (cores + 1) takes whole batches: decode, then a one-thread ONNX "
        "Runtime forward. While one core decodes, another computes, and no decoding thread can stall ONNX "
        "Runtime's fork-join loops "
        "(with intra-op threads = cores, a preempted thread holds the whole batch back, and idle threads "
        "spin). The concurrent raw row shows what that arrangement gives without any files. `workers=0` "
        "decodes and computes in turn, in one thread.",
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """This script's block of BENCHMARKS.md (between its markers); the writer is shared."""
    common.write_section("features", section, path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256, help="JPEG files to build and extract")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per case; the median is reported")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="decoding threads of the polymodal case")
    parser.add_argument("--eager-images", type=int, default=96, help="images for the (slow) PyTorch eager case")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "BENCHMARKS.md",
                        help="markdown file whose features section is written or updated")
    args = parser.parse_args(argv)
    command = "python " + shlex.join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    info = machine()
    with tempfile.TemporaryDirectory(prefix="polymodal-bench-") as tmp:
        os.environ["POLYMODAL_HOME"] = str(Path(tmp) / "home")  # never touch the user's caches
        t0 = time.perf_counter()
        paths = make_images(Path(tmp), args.images)
        print(f"built {len(paths)} JPEGs in {time.perf_counter() - t0:.1f} s", flush=True)
        r = bench(paths, Path(tmp), args.batch_size, args.workers, args.repeats, args.eager_images)
    for name in ("poly", "poly0", "raw", "raw_float", "raw_conc", "eager"):
        print(f"{name:>6}: {r[name]:7.1f} images/s  ratio {r[name] / r['raw']:.2f}")
    print(f"first use {r['first_use_s']:.1f} s, parity {r['parity']:.1e}")
    write_section(args.out, to_markdown(r, info, command, args.images, args.repeats, args.batch_size, args.workers))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
