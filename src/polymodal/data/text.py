"""Text: normalised strings, ready for any tokenizer."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SPACE = re.compile(r"\s+")


def normalize_text(text: str, *, lowercase: bool = False) -> str:
    """NFKC-normalise, collapse runs of white space, strip; optionally lowercase."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return text.lower() if lowercase else text


@dataclass(frozen=True)
class TextLoader:
    lowercase: bool = False

    @property
    def id(self) -> str:
        return f"text:nfkc:lower={self.lowercase}"

    def __call__(self, value: str) -> str:
        return normalize_text(value, lowercase=self.lowercase)

    def empty(self) -> str:
        return ""
