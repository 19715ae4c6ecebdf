"""eSpeak NG through ctypes: what `synthesize` returns, that a clip depends only on its own
request (not on what was spoken before, nor on the number of workers), and clear errors."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import soundfile

from polymodal.data.recipes import speech
from polymodal.data.recipes.speech import SpeechError, sample_rate, synthesize, synthesize_many

# A mix of plain voices, a breath voice (noise) and a Klatt voice (noise in its fricatives).
JOBS = [{"text": "seven", "voice": "en-us+m3", "speed": 150, "pitch": 40, "seed": 0},
        {"text": "grinning face", "voice": "en-gb-scotland+f2", "speed": 170, "pitch": 55, "seed": 0},
        {"text": "flag: Japan", "voice": "en+whisper", "speed": 180, "pitch": 60, "seed": 3},
        {"text": "six", "voice": "en-us+klatt", "speed": 200, "pitch": 70, "seed": 0}]


def _same(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_synthesize_gives_float32_in_range_at_the_sample_rate():
    samples = synthesize("seven")
    assert sample_rate() == 22_050
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 0.3 < len(samples) / sample_rate() < 1.5  # one short word, not a sample count at 16 kHz
    assert np.abs(samples).max() <= 1.0 and np.sqrt(np.mean(samples**2)) > 0.01


def test_longer_text_gives_a_longer_clip():
    short = synthesize("one")
    long = synthesize("one two three four five six seven eight nine ten")
    assert len(long) > 4 * len(short)


def test_same_request_same_samples_whatever_was_spoken_before():
    first = [synthesize(**job) for job in JOBS]
    synthesize("something else entirely, spoken first", voice="en+f3", speed=300)
    assert _same([synthesize(**job) for job in JOBS], first)
    assert _same([synthesize(**job) for job in reversed(JOBS)][::-1], first)  # order does not matter


def test_synthesize_many_twice_gives_identical_arrays():
    first = synthesize_many(JOBS, workers=1)
    assert _same(synthesize_many(JOBS, workers=1), first)
    assert _same(first, [synthesize(**job) for job in JOBS])


def test_one_worker_or_two_give_identical_clips():
    assert _same(synthesize_many(JOBS, workers=1), synthesize_many(JOBS, workers=2))


def test_seed_drives_the_noise_of_a_breath_voice():
    job = {"text": "hello there", "voice": "en+whisper"}
    zero, one = synthesize(**job, seed=0), synthesize(**job, seed=1)
    assert np.array_equal(zero, synthesize(**job, seed=0)) and not np.array_equal(zero, one)


def test_resampled_clips_are_written_as_16_bit_wavs(tmp_path):
    jobs = [{**JOBS[0], "path": "clips/first.wav"}, JOBS[1]]  # the second gets a name from its index
    paths = synthesize_many(jobs, workers=2, sample_rate=16_000, out_dir=tmp_path)
    arrays = synthesize_many(JOBS[:2], workers=1, sample_rate=16_000)
    assert paths == [tmp_path / "clips/first.wav", tmp_path / "00001.wav"]
    for path, array in zip(paths, arrays, strict=True):
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
        written, _ = soundfile.read(path, dtype="float32")
        assert len(written) == len(array) and np.abs(written - array).max() <= 1 / 32768 + 1e-7
    assert len(arrays[0]) == pytest.approx(len(synthesize(**JOBS[0])) * 16_000 / 22_050, abs=2)


def test_empty_text_is_a_value_error():
    with pytest.raises(ValueError, match="non-empty"):
        synthesize("  ")
    with pytest.raises(ValueError, match="speech job 1"):
        synthesize_many([{"text": "one"}, {"text": ""}], workers=2)
    with pytest.raises(ValueError, match="out_dir"):
        synthesize_many([{"text": "one", "path": "one.wav"}])


def test_unknown_voice_is_a_speech_error():
    with pytest.raises(SpeechError, match="unknown eSpeak NG voice 'xx-nowhere'"):
        synthesize("hello", voice="xx-nowhere")
    with pytest.raises(SpeechError, match="xx-nowhere"):
        synthesize_many([{"text": "one"}, {"text": "two", "voice": "xx-nowhere"}], workers=2)


def test_refuses_when_other_code_holds_the_library_open():
    """A library that cannot unload would carry its state over: refuse instead."""
    path, _ = speech._locations()
    held = ctypes.CDLL(path)
    try:
        with pytest.raises(SpeechError, match="already loaded"):
            synthesize("hello")
    finally:
        speech._dlclose(held._handle)
    assert len(synthesize("hello")) > 0
