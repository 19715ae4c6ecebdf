"""Offline text-to-speech through the eSpeak NG library shipped by `espeakng-loader`.

The PyPI package carries `libespeak-ng.so` and its voice data, so spoken audio
can be made on any fresh machine without root or a system package. We drive the
C API through ctypes in *retrieval* mode: samples come back through a callback
instead of going to a sound card.

The library keeps global state and is not thread-safe, so every call holds a
lock; recipes that need many clips use worker processes, each with its own copy.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

_AUDIO_OUTPUT_RETRIEVAL = 1
_POS_CHARACTER = 1
_CHARS_AUTO = 0
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_lock = threading.Lock()
_state: dict = {}


class SpeechError(RuntimeError):
    """eSpeak NG could not be loaded or refused a request."""


def _library() -> tuple[ctypes.CDLL, int]:
    """Load and initialise the library once per process; return it and its sample rate."""
    if "lib" in _state:
        return _state["lib"], _state["rate"]
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise SpeechError("speech needs the 'espeakng-loader' package: pip install espeakng-loader") from exc
    lib = ctypes.CDLL(str(espeakng_loader.get_library_path()))
    data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_RETRIEVAL, 0, data_parent, 0)
    if rate <= 0:
        raise SpeechError(f"espeak_Initialize failed (returned {rate}); data folder {data_parent.decode()}")
    chunks: list[np.ndarray] = []

    def on_samples(wav, n, _events):  # called by the library from inside espeak_Synth
        if n > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    callback = _CALLBACK(on_samples)  # keep a reference: the library holds a raw pointer
    lib.espeak_SetSynthCallback(callback)
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    _state.update(lib=lib, rate=rate, chunks=chunks, callback=callback)
    return lib, rate


def sample_rate() -> int:
    """The rate, in Hz, of the samples `synthesize` returns (22,050 for eSpeak NG)."""
    return _library()[1]


def synthesize(text: str, *, voice: str = "en-us", speed: int = 175, pitch: int = 50,
               pitch_range: int = 50) -> np.ndarray:
    """Speak `text`; return mono float32 samples in [-1, 1] at `sample_rate()`.

    `voice` is an eSpeak NG voice name such as "en-us", "en-gb-scotland" or
    "en+f3" (a variant after the plus); `speed` is words per minute (80-450),
    `pitch` and `pitch_range` run from 0 to 100.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("synthesize needs a non-empty text")
    lib, _ = _library()
    with _lock:
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SpeechError(f"unknown eSpeak NG voice {voice!r}")
        lib.espeak_SetParameter(_PARAM_RATE, int(speed), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        lib.espeak_SetParameter(_PARAM_RANGE, int(pitch_range), 0)
        chunks = _state["chunks"]
        chunks.clear()
        data = text.encode("utf-8") + b"\0"
        status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_AUTO, None, None)
        lib.espeak_Synchronize()
        if status != 0:
            raise SpeechError(f"espeak_Synth failed with status {status} for text {text!r}")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        chunks.clear()
    return samples.astype(np.float32) / 32768.0
