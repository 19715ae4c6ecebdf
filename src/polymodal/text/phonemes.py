"""How a text sounds: eSpeak NG's English phonemes (IPA) for a string, and a similarity of two
texts by how they sound.

Speech recognition errs by sound, not by meaning: Whisper tiny.en hears "smiling face with
sunglasses" as "smiling face with song glasses" and "grinning face with big eyes" as "breathing
face with being guys". A sentence embedding of the transcript puts such a mishearing far from the
caption; the phonemes stay close (`ɡɹɪnɪŋfeɪswɪðbɪɡaɪz` against `bɹiːðɪŋfeɪswɪðbiːɪŋɡaɪz`). We
compare phoneme strings by normalised Levenshtein similarity (rapidfuzz: C++, many cores), stress
marks and word breaks removed, since a recogniser splits and stresses words as it pleases.

eSpeak NG comes with `espeakng-loader` (already used to speak the data recipes' captions); its
text-to-phoneme rules need no audio and no state between calls.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence

import numpy as np

from ..data.recipes.speech import _fresh_library, _lock

_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02
_DROP = re.compile(r"[ˈˌ\s]+")  # stress marks and spaces
_KEEP = re.compile(r"[^\w' ]+")  # punctuation only changes the prosody eSpeak would give
_known: dict[tuple[str, str], str] = {}


def _convert(lib: ctypes.CDLL, text: str) -> str:
    buffer = ctypes.create_string_buffer(text.encode("utf-8") + b"\0")
    pointer = ctypes.c_void_p(ctypes.addressof(buffer))  # eSpeak advances it clause by clause
    parts = []
    while pointer.value:
        part = lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, _PHONEMES_IPA)
        if not part:
            break
        parts.append(part.decode("utf-8"))
    return _DROP.sub("", "".join(parts))


def phonemes(texts: Sequence[str], voice: str = "en-us") -> list[str]:
    """Each text's phonemes in IPA, without stress marks or spaces ("" for an empty text);
    remembered for the life of the process."""
    texts = [_KEEP.sub(" ", str(t).lower()).strip() for t in texts]
    todo = sorted({t for t in texts if t and (voice, t) not in _known})
    if todo:
        with _lock, _fresh_library() as (lib, _):
            lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
            lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"unknown eSpeak NG voice {voice!r}")
            for t in todo:
                _known[(voice, t)] = _convert(lib, t)
    return [_known[(voice, t)] if t else "" for t in texts]


def sound_similarity(heard: Sequence[Sequence[str]], texts: Sequence[str]) -> np.ndarray:
    """`[len(heard), len(texts)]`: for each clip's transcripts (N best, any number) and each text,
    the best normalised Levenshtein similarity (0-1) of their phonemes over the transcripts. A clip
    with no words scores 0 against every text."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    if not heard or not texts:
        return np.zeros((len(heard), len(texts)), dtype=np.float32)
    flat = [h for hs in heard for h in (hs or [""])]
    owner = np.repeat(np.arange(len(heard)), [len(hs) or 1 for hs in heard])
    scores = process.cdist(phonemes(flat), phonemes(texts), scorer=Levenshtein.normalized_similarity,
                           dtype=np.float32, workers=-1)
    empty = np.array([not p for p in phonemes(flat)])
    scores[empty] = 0.0  # rapidfuzz rates two empty strings as equal
    best = np.zeros((len(heard), len(texts)), dtype=np.float32)
    np.maximum.at(best, owner, scores)
    return best
