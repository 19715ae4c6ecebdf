"""`spoken`: match speech to text by how the words sound. A candidate of `Aligner` beside the
contrastive heads and the closed forms, for one pair only: an audio column read by `whisper-asr`
and a text column read by `minilm`.

Training-free. Whisper tiny.en hears each clip with a beam of `beam_size`, keeping its
`hypotheses` best transcripts; a clip and a text score the best phoneme similarity between any
transcript and the text (text/phonemes.py), standardised per clip by its similarities to a
reference set of texts (up to `REFERENCE` of the training rows' texts, kept in the run): a clip
whose transcripts sound a bit like everything must not outrank, for a text, the clip that sounds
like that text alone. It changes no clip's ranking of texts; it raised text -> clip Recall@1 on
openmoji from 0.82 to 0.85 (test) and 0.86 to 0.90 (validation). Its embedding is `whisper-asr`'s own, which is
already MiniLM's space: the transcript's sentence embedding beside the text's, both unit length.
Search takes the nearest `RERANK` rows by that embedding and orders them by the sound score.

Measured on openmoji's spoken names (bench_speech.py): the transcript's MiniLM embedding finds
the right caption first for 0.53 of the clips, the contrastive heads for 0.42, this for 0.9.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PolymodalError
from ..metrics.retrieval import unit_rows
from ..text.phonemes import sound_similarity

NAME = "spoken"
REFERENCE = 500  # training texts a clip's similarities are standardised against
RERANK = 200  # rows of a search re-ordered by sound (nearest by the embedding first)
TIE = 1e-3  # weight of the embedding's cosine in the score: it only orders clips that sound alike


def spoken_pair(schema, encoders: dict) -> tuple[str, str] | None:
    """(audio column, text column) when the aligned columns are one `whisper-asr` audio column and
    one `minilm` text column; else None."""
    if len(encoders) != 2:
        return None
    roles = {schema.modalities[c]: c for c in encoders}
    audio, text = roles.get("audio"), roles.get("text")
    if audio is None or text is None:
        return None
    if encoders[audio].name != "whisper-asr" or encoders[text].name != "minilm":
        return None
    return audio, text


def why_not(schema, encoders: dict) -> str:
    return ("method 'spoken' matches an audio column read by whisper-asr with a text column read by minilm, and "
            "nothing else; the aligned columns are "
            + ", ".join(f"{c} ({schema.modalities[c]}, {e.name})" for c, e in sorted(encoders.items())))


def combine(sound: np.ndarray, cosine: np.ndarray | None) -> np.ndarray:
    return sound if cosine is None else sound + TIE * np.asarray(cosine, dtype=np.float32)


def by_sound(space: SpokenSpace, hits, column: str | None, *, text: str | None = None,
             heard: list[str] | None = None, k: int = 10):
    """Search hits (rank, score = cosine, row, the indexed rows' cells) re-ordered by sound: a text
    query against indexed clips, or a clip's transcripts (`heard`) against indexed texts. Other
    searches (text against texts, a clip against clips) keep the embedding's order. The top `k`."""
    cosine = hits["score"].to_numpy(dtype=np.float32)
    if text is not None and column == space.audio and len(hits):
        hits["score"] = combine(space.sound(space.heard(list(hits[column])), [text])[:, 0], cosine)
    elif heard is not None and column == space.text and len(hits):
        hits["score"] = combine(space.sound([heard], list(hits[column].astype(str)))[0], cosine)
    else:
        return hits.head(k)
    hits = hits.sort_values("score", ascending=False, kind="stable").head(k).reset_index(drop=True)
    hits["rank"] = np.arange(1, len(hits) + 1)
    return hits


def reference_texts(texts: list[str], seed: int = 0) -> list[str]:
    """Up to `REFERENCE` distinct non-empty texts, a seeded sample when there are more."""
    distinct = sorted({t for t in texts if t.strip()})
    if len(distinct) <= REFERENCE:
        return distinct
    pick = np.random.default_rng(seed).choice(len(distinct), REFERENCE, replace=False)
    return [distinct[i] for i in sorted(pick)]


def spoken_cells(table, space: SpokenSpace, rows=None) -> dict[str, list[str]]:
    """The cells `space` hears and reads, of `rows` (all by default), as the encoders' loaders get them
    (materialize.cell_values): audio paths made absolute, texts; "" where a cell is absent."""
    from ..encoders.materialize import cell_values

    out = {}
    for column, role in ((space.audio, "audio"), (space.text, "text")):
        values = cell_values(table, column, role)
        picked = values if rows is None else [values[i] for i in rows]
        out[column] = ["" if v is None else str(v) for v in picked]
    return out


class SpokenSpace:
    """The `spoken` method: `embed` as a closed form's (the MiniLM space, unit rows) and `scores`
    from the sound of the words."""

    def __init__(self, audio: str, text: str, *, dim: int, reference: list[str] | None = None, beam_size: int = 5,
                 hypotheses: int = 5, compute_type: str = "int8") -> None:
        self.audio, self.text, self.columns, self.out_dim = audio, text, sorted([audio, text]), int(dim)
        self.reference = [str(t) for t in reference or []]
        self.beam_size, self.hypotheses, self.compute_type = int(beam_size), int(hypotheses), compute_type
        self._listener = None

    def options(self) -> dict:
        return {"audio": self.audio, "text": self.text, "beam_size": self.beam_size,
                "hypotheses": self.hypotheses, "compute_type": self.compute_type, "reference": self.reference}

    @property
    def listener(self):
        if self._listener is None:  # loads Whisper: only when something is to be heard
            from ..encoders.whisper_asr import Listener

            self._listener = Listener(compute_type=self.compute_type, beam_size=self.beam_size,
                                      hypotheses=self.hypotheses)
        return self._listener

    def embed(self, column: str, x: np.ndarray) -> np.ndarray:
        if column not in self.columns:
            raise PolymodalError(f"spoken: no column {column!r}; it matches {self.audio!r} with {self.text!r}")
        return unit_rows(x, f"{column} features", np.float32)

    def heard(self, paths: list[str | Path]) -> list[list[str]]:
        """Each clip's N best transcripts."""
        return self.listener.heard_files(paths)

    def sound(self, heard: list[list[str]], texts: list[str]) -> np.ndarray:
        """`[clips, texts]`: each clip's sound similarity to each text, standardised by the clip's
        similarities to the reference texts (the raw similarity, 0-1, when there are none)."""
        found = sound_similarity(heard, [str(t) for t in texts])
        if len(self.reference) < 2:
            return found
        background = sound_similarity(heard, self.reference)
        centre, spread = background.mean(1, keepdims=True), background.std(1, keepdims=True)
        return (found - centre) / np.maximum(spread, 1e-3)  # a silent clip: all zeros, stays zeros

    def scores(self, paths: list[str | Path], texts: list[str], cosine: np.ndarray | None = None) -> np.ndarray:
        """`[clips, texts]`: `sound`, plus `TIE` times the embeddings' cosine."""
        return combine(self.sound(self.heard(paths), texts), cosine)

    def pair_scores(self, out: dict, cells: dict | None) -> dict[str, np.ndarray]:
        """`{"scores:a|b": [n, n]}` over the rows of a part (columns a, b in sorted order, as the
        evaluation pairs them), from the part's cells and the embeddings in `out` (`emb:<col>`)."""
        if cells is None:
            raise PolymodalError("spoken: scoring needs the clips and texts of the rows, not only their features")
        n = len(cells[self.audio])
        found = np.zeros((n, n), dtype=np.float32)
        present = out[f"mask:{self.audio}"].numpy()  # the rows whose clip was read, as the embeddings say
        clips = [i for i in range(n) if present[i] and cells[self.audio][i]]
        if clips:
            cosine = out[f"emb:{self.audio}"][clips].numpy() @ out[f"emb:{self.text}"].numpy().T
            found[clips] = self.scores([cells[self.audio][i] for i in clips], cells[self.text], cosine)
        a, b = self.columns
        return {f"scores:{a}|{b}": found if a == self.audio else found.T}

    def tensors(self) -> dict[str, np.ndarray]:
        return {}

    def set_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        pass
