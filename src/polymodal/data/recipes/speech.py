"""Offline text-to-speech through the eSpeak NG library shipped by `espeakng-loader`.

The PyPI package carries `libespeak-ng.so` and its voice data, so spoken audio
can be made on any fresh machine without root or a system package. We drive the
C API through ctypes in *synchronous* mode: `espeak_Synth` returns only when the
samples have come back through our callback, and no background thread is
started (retrieval mode starts one, which can hang a process forked later).

Reproducibility. eSpeak NG keeps state in its globals from one utterance to the
next (the phase of the voice source, pitch flutter, its noise generator), and
neither `espeak_Terminate` nor a new `espeak_Initialize` resets it: the same
request spoken twice in one process gives different samples, even different
lengths, in either output mode. So every `synthesize` call loads the library,
speaks, and unloads it again (`dlclose`), which brings back fresh globals. A clip
then depends only on its own request: it is identical whatever was spoken before,
in this process or another, and equal to what a fresh process would give. The
reload costs about 3 ms on top of 2 ms of speech; retrieval mode took about 20 ms.
If another module holds the library open it cannot unload, so we refuse rather
than give history-dependent audio; `synthesize_many(..., workers=2)` still works
then, since it speaks in fresh processes.
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_AUTO = 0
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_dlclose = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary  # POSIX, else Windows

_lock = threading.Lock()  # the library lives in process globals: one utterance at a time


class SpeechError(RuntimeError):
    """eSpeak NG could not be loaded or refused a request."""


def _locations() -> tuple[str, bytes]:
    """The shared library's path and the folder that holds `espeak-ng-data`."""
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise SpeechError("speech needs the 'espeakng-loader' package: pip install espeakng-loader") from exc
    return str(espeakng_loader.get_library_path()), str(Path(espeakng_loader.get_data_path()).parent).encode()


def _refuse_if_loaded(path: str) -> None:
    """dlclose only unloads a library nobody else holds; a held one would keep its old state."""
    if not hasattr(os, "RTLD_NOLOAD"):  # pragma: no cover - Windows has no such probe
        return
    try:
        held = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)  # succeeds only if it is loaded already
    except OSError:
        return
    _dlclose(held._handle)
    raise SpeechError(f"{path} is already loaded by other code in this process, so eSpeak NG would carry "
                      "state over from earlier speech; use synthesize_many(..., workers=2), which speaks "
                      "in fresh processes")


def _declare(lib: ctypes.CDLL) -> None:
    """Argument types, so ctypes passes pointers and sizes at full width."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    if hasattr(lib, "espeak_ng_SetRandSeed"):  # eSpeak NG >= 1.52
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]


@contextmanager
def _fresh_library() -> Iterator[tuple[ctypes.CDLL, int]]:
    """Load and initialise the library with fresh globals; unload it on exit. Hold `_lock`."""
    path, data = _locations()
    _refuse_if_loaded(path)
    lib = ctypes.CDLL(path)
    rate = 0
    try:
        _declare(lib)
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate <= 0:
            raise SpeechError(f"espeak_Initialize failed (returned {rate}); data folder {data.decode()}")
        yield lib, rate
    finally:
        if rate > 0:
            lib.espeak_Terminate()  # frees the voice data the unload would otherwise leak
        _dlclose(lib._handle)


@functools.cache
def sample_rate() -> int:
    """The rate, in Hz, of the samples `synthesize` returns (22,050 for eSpeak NG)."""
    with _lock, _fresh_library() as (_, rate):
        return rate


def _speak(lib: ctypes.CDLL, text: str) -> np.ndarray:
    """Run one utterance through an initialised library; return its int16 samples."""
    chunks: list[np.ndarray] = []

    def on_samples(wav, n, _events):  # called from inside espeak_Synth, on this thread
        if n > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    callback = _CALLBACK(on_samples)  # keep a reference: the library holds a raw pointer
    lib.espeak_SetSynthCallback(callback)
    data = text.encode("utf-8") + b"\0"
    status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_AUTO, None, None)
    lib.espeak_Synchronize()
    if status != 0:
        raise SpeechError(f"espeak_Synth failed with status {status} for text {text!r}")
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def synthesize(text: str, *, voice: str = "en-us", speed: int = 175, pitch: int = 50,
               pitch_range: int = 50, seed: int | None = None) -> np.ndarray:
    """Speak `text`; return mono float32 samples in [-1, 1] at `sample_rate()`.

    `voice` is an eSpeak NG voice name such as "en-us", "en-gb-scotland" or
    "en+f3" (a variant after the plus); `speed` is words per minute (80-450),
    `pitch` and `pitch_range` run from 0 to 100. `seed` seeds eSpeak's noise
    generator (breath, aspiration, Klatt frication); None keeps the library's own
    start value. The same arguments give the same samples, whatever came before.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("synthesize needs a non-empty text")
    with _lock, _fresh_library() as (lib, _):
        if seed is not None and hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed(int(seed))
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SpeechError(f"unknown eSpeak NG voice {voice!r}")
        for param, value in ((_PARAM_RATE, speed), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range)):
            lib.espeak_SetParameter(param, int(value), 0)
        samples = _speak(lib, text)
    if samples.size == 0:
        raise SpeechError(f"eSpeak NG gave no audio for {text!r} (voice {voice!r})")
    return samples.astype(np.float32) / 32768.0


# ----------------------------------------------------------------------------- many clips


def _plain_job(job: dict, index: int, out_dir: Path | None) -> dict:
    """Check one job at the edge and turn it into JSON-ready values (numpy ints are not)."""
    text = job.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"speech job {index}: needs a non-empty 'text', got {text!r}")
    if job.get("path") is not None and out_dir is None:
        raise ValueError(f"speech job {index}: has a 'path' but no out_dir was given to write it under")
    seed = job.get("seed")
    path = None if out_dir is None else str(Path(out_dir) / (job.get("path") or f"{index:05d}.wav"))
    return {"text": text, "voice": str(job.get("voice", "en-us")), "speed": int(job.get("speed", 175)),
            "pitch": int(job.get("pitch", 50)), "seed": None if seed is None else int(seed), "path": path}


def _speak_jobs(jobs: list[dict], rate: int | None) -> list[np.ndarray] | list[Path]:
    """Speak plain jobs here, in order; resample to `rate`; write a WAV where a job has a path."""
    out = []
    for job in jobs:
        samples = synthesize(job["text"], voice=job["voice"], speed=job["speed"], pitch=job["pitch"],
                             seed=job["seed"])
        if rate is not None and rate != sample_rate():
            import soxr

            # Resampling can overshoot a loud peak a little; keep the [-1, 1] promise.
            samples = np.clip(soxr.resample(samples, sample_rate(), rate), -1.0, 1.0).astype(np.float32)
        if job["path"] is None:
            out.append(samples)
            continue
        import soundfile

        Path(job["path"]).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(job["path"], samples, rate or sample_rate(), subtype="PCM_16", format="WAV")
        out.append(Path(job["path"]))
    return out


# A worker is a fresh interpreter that loads this file by path: importing the polymodal
# package (and torch) would take seconds, and multiprocessing would import it to unpickle.
_WORKER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_polymodal_speech", sys.argv[1])
speech = importlib.util.module_from_spec(spec)
spec.loader.exec_module(speech)
speech._serve(sys.argv[2])
"""


def _serve(result: str) -> None:
    """Worker side: speak the request on stdin; save the arrays (if no files) to `result`."""
    request = json.load(sys.stdin)
    out = _speak_jobs(request["jobs"], request["rate"])
    if out and isinstance(out[0], np.ndarray):
        np.savez(result, *out)


def _speak_in_worker(jobs: list[dict], rate: int | None) -> list[np.ndarray] | list[Path]:
    """Speak plain jobs in one fresh worker process; return what `_speak_jobs` would."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "clips.npz"
        done = subprocess.run([sys.executable, "-c", _WORKER, __file__, str(result)],
                              input=json.dumps({"jobs": jobs, "rate": rate}), text=True,
                              capture_output=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise SpeechError(f"speech worker failed: {last}")
        if jobs[0]["path"] is not None:
            return [Path(job["path"]) for job in jobs]
        with np.load(result) as data:
            return [data[f"arr_{i}"] for i in range(len(jobs))]


def synthesize_many(jobs: list[dict], *, workers: int = 2, sample_rate: int | None = None,
                    out_dir: Path | None = None) -> list[np.ndarray] | list[Path]:
    """Speak many clips, in order, reproducibly; return float32 arrays, or WAV paths with `out_dir`.

    Each job is a dict with `text` and optionally `voice`, `speed`, `pitch` and
    `seed` (as in `synthesize`) and `path`. With `sample_rate` clips are
    resampled (soxr) to that rate, else they stay at eSpeak's. With `out_dir`
    each clip is written as a 16-bit mono WAV at `out_dir / path` (default
    `NNNNN.wav`, the job's index) and its path is returned. As every clip depends
    only on its own job, the result does not depend on `workers`: with more than
    one, contiguous slices of the jobs are spoken by that many fresh processes.
    """
    plain = [_plain_job(job, i, out_dir) for i, job in enumerate(jobs)]
    parts = max(1, min(workers, len(plain)))
    if parts == 1:
        return _speak_jobs(plain, sample_rate)
    bounds = [len(plain) * k // parts for k in range(parts + 1)]
    slices = [plain[a:b] for a, b in pairwise(bounds)]
    with ThreadPoolExecutor(parts) as pool:  # the threads only wait on their worker processes
        done = list(pool.map(lambda part: _speak_in_worker(part, sample_rate), slices))
    return [clip for part in done for clip in part]
