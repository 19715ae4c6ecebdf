"""`whisper-asr`: what was said, as a sentence embedding. Whisper tiny.en transcribes each clip
(greedy by default, English, no timestamps), then MiniLM embeds the transcript (384-d).

For spoken words this puts audio in the same space as text, so a voice query and a caption of
the same words start out close, before any alignment is learned. Transcripts are stored on disk
(`transcripts.py`); `transcribe_files` reads them back for reports. The decoding mirrors one
30 s segment of faster-whisper's `transcribe` (prompt, suppressed tokens), batched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import PolymodalError
from .base import Encoder, EncoderOutput, register_encoder
from .minilm import MiniLM
from .transcripts import TranscriptStore, input_key
from .whisper_model import WhisperMel, check_compute_type, load_whisper, model_name, split_mask, storage_view


class Transcriber:
    """Batched greedy/beam decoding of `WhisperMel` batches with faster-whisper's model; the
    `hypotheses` best transcripts of each clip, best first (N-best needs beam_size >= hypotheses)."""

    def __init__(self, *, compute_type: str, beam_size: int, max_new_tokens: int, hypotheses: int = 1):
        self.whisper = load_whisper(compute_type)  # first: names the extra when faster-whisper is missing
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.tokenizer = Tokenizer(self.whisper.hf_tokenizer, self.whisper.model.is_multilingual,
                                   task="transcribe", language="en")
        self.prompt = self.whisper.get_prompt(self.tokenizer, [], without_timestamps=True)
        self.suppress = list(get_suppressed_tokens(self.tokenizer, [-1]))
        self.beam_size, self.max_new_tokens, self.hypotheses = beam_size, max_new_tokens, hypotheses

    def __call__(self, batch: torch.Tensor) -> list[list[str]]:
        mel, frames = split_mask(batch)
        texts: list[list[str]] = [[""] for _ in range(len(batch))]
        rows = [i for i in range(len(batch)) if frames[i] > 0]  # an empty clip says nothing
        if not rows:
            return texts
        view, _array = storage_view(mel[rows])
        results = self.whisper.model.generate(
            view, [self.prompt] * len(rows), beam_size=self.beam_size, num_hypotheses=self.hypotheses,
            suppress_blank=True, suppress_tokens=self.suppress, max_length=len(self.prompt) + self.max_new_tokens)
        for i, result in zip(rows, results, strict=True):
            texts[i] = [self.tokenizer.decode(ids).strip() for ids in result.sequences_ids]
        return texts


class Listener:
    """Audio -> the N best transcripts of each clip, decoded once and kept in the transcript store
    (`transcripts.py`), keyed by the log-mel input, so any copy of a file is heard once."""

    def __init__(self, *, compute_type: str = "int8", beam_size: int = 1, hypotheses: int = 1,
                 max_new_tokens: int = 96):
        if not 1 <= beam_size <= 16 or not 1 <= max_new_tokens <= 400 or not 1 <= hypotheses <= beam_size:
            raise PolymodalError(f"whisper-asr: beam_size must be 1-16, hypotheses 1-beam_size and max_new_tokens "
                                 f"1-400, not {beam_size}, {hypotheses} and {max_new_tokens}")
        self.compute_type = check_compute_type(compute_type)
        self.beam_size, self.hypotheses, self.max_new_tokens = beam_size, hypotheses, max_new_tokens
        self.transcriber = Transcriber(compute_type=compute_type, beam_size=beam_size,
                                       max_new_tokens=max_new_tokens, hypotheses=hypotheses)
        self.store = TranscriptStore(self.decoder_id)

    @property
    def decoder_id(self) -> str:
        """What fixes a transcript: the model, the input features and the decoding (one best: the id
        stores written before N-best existed were kept under)."""
        n = f"|n={self.hypotheses}" if self.hypotheses > 1 else ""
        return (f"{model_name()}|{WhisperMel().id}|{self.compute_type}|beam={self.beam_size}"
                f"|new={self.max_new_tokens}|en{n}")

    def heard(self, batch: torch.Tensor) -> list[list[str]]:
        """N-best transcripts of a `WhisperMel` batch, from the store where decoded before."""
        keys = [input_key(x) for x in batch]
        known = self.store.get(keys)
        todo = sorted({i for i, k in enumerate(keys) if k not in known}, key=lambda i: keys[i])
        if todo:
            fresh = dict(zip([keys[i] for i in todo], self.transcriber(batch[todo]), strict=True))
            # one best is stored as a plain string (the format before N-best)
            self.store.put({k: v if self.hypotheses > 1 else v[0] for k, v in fresh.items()})
            known.update(fresh)
        return [known[k] if isinstance(known[k], list) else [known[k]] for k in keys]

    def heard_files(self, paths: Sequence[str | Path], batch_size: int = 8) -> list[list[str]]:
        """N-best transcripts of audio files (decoded once, then read from the store)."""
        loader, out = WhisperMel(), []
        for i in range(0, len(paths), batch_size):
            out += self.heard(torch.stack([loader(p) for p in paths[i : i + batch_size]]))
        return out


class WhisperASR(Encoder):
    name = "whisper-asr"
    roles = ("audio",)
    pretrained = True
    exports = False  # the transcription runs in CTranslate2 (encoders/onnx_runtime.py)
    version = "1"

    def __init__(self, *, beam_size: int = 1, max_new_tokens: int = 96, compute_type: str = "int8",
                 max_length: int = 128, mode: str = "frozen"):
        super().__init__()
        self.listener = Listener(compute_type=compute_type, beam_size=beam_size, max_new_tokens=max_new_tokens)
        self.beam_size, self.max_new_tokens = beam_size, max_new_tokens
        self.compute_type = self.listener.compute_type
        self.transcriber = self.listener.transcriber
        self.text = MiniLM(max_length=max_length, mode=mode)
        self.out_dim = self.text.out_dim
        self.set_mode(mode).train()

    @property
    def decoder_id(self) -> str:
        return self.listener.decoder_id

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}|{self.decoder_id}|{self.text.id}"

    def loader(self) -> WhisperMel:
        return WhisperMel()

    def config(self) -> dict:
        return {"beam_size": self.beam_size, "max_new_tokens": self.max_new_tokens,
                "compute_type": self.compute_type, "max_length": self.text.max_length}

    def set_mode(self, mode: str) -> WhisperASR:
        super().set_mode(mode)
        self.text.set_mode(mode)  # MiniLM keeps its own mode for its train/eval switching
        return self

    def last_blocks(self) -> nn.Module:
        return self.text.last_blocks()

    def transcribe(self, batch: torch.Tensor) -> list[str]:
        """Transcripts of a `WhisperMel` batch, from the store where decoded before."""
        return [h[0] for h in self.listener.heard(batch)]

    def transcribe_files(self, paths: Sequence[str | Path], batch_size: int = 8) -> list[str]:
        """Transcripts of audio files (for reports); decoded once, then read from the store."""
        return [h[0] for h in self.listener.heard_files(paths, batch_size)]

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        normalise = self.text.loader()  # as the text column's cells are (NFKC)
        return self.text([normalise(t) for t in self.transcribe(x)])


@register_encoder("whisper-asr", ["audio"], pretrained=True,
                  summary="Whisper tiny.en transcript embedded by MiniLM, 384-d (needs polymodal[speech])")
def build_whisper_asr(beam_size: int = 1, max_new_tokens: int = 96, compute_type: str = "int8",
                      max_length: int = 128, mode: str = "frozen") -> WhisperASR:
    return WhisperASR(beam_size=beam_size, max_new_tokens=max_new_tokens, compute_type=compute_type,
                      max_length=max_length, mode=mode)
