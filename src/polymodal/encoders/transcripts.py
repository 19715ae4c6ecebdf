"""Transcripts on disk, beside the feature cache, so a report can show what the ASR heard.

Layout: `$POLYMODAL_HOME/transcripts/<hash of the decoder id>/part-<time>-<random>.json`, each part
a JSON object {key: text} written atomically; a key is the sha1 of the log-mel input the
transcript was decoded from, so it matches whatever file (or copy of it) produced those features.
Parts are immutable, so concurrent writers only ever add files; reading takes the union.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import torch

from ..paths import home
from ..runs.files import read_json, write_json


def input_key(x: torch.Tensor) -> str:
    """Content key of one loader output."""
    return hashlib.sha1(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


class TranscriptStore:
    def __init__(self, decoder_id: str, root: str | Path | None = None):
        base = Path(root).expanduser() if root is not None else home() / "transcripts"
        self.folder = base / hashlib.sha1(decoder_id.encode()).hexdigest()[:16]
        self.decoder_id = decoder_id
        self._memo: dict[str, str | list[str]] = {}  # one best: a string; N best: a list
        self._read: set[str] = set()

    def get(self, keys: list[str]) -> dict[str, str | list[str]]:
        """The stored transcripts among `keys`."""
        if any(k not in self._memo for k in keys):
            self._refresh()
        return {k: self._memo[k] for k in keys if k in self._memo}

    def put(self, found: dict[str, str | list[str]]) -> None:
        if not found:
            return
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        write_json(self.folder / name, {"decoder": self.decoder_id, "transcripts": found})
        self._memo.update(found)

    def _refresh(self) -> None:
        if not self.folder.is_dir():
            return
        for part in sorted(self.folder.glob("part-*.json")):
            if part.name not in self._read:
                self._memo.update(read_json(part)["transcripts"])
                self._read.add(part.name)
