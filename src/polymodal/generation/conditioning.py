"""Text conditioning: prompts -> a vector that every generator network takes.

Two sources, chosen by `text_encoder`:
- "minilm": the frozen all-MiniLM-L6-v2 sentence embedding (384-d). Prompts go through the
  feature cache, so a table's captions are embedded once for every run that uses them.
- "gru": a bidirectional GRU over a tokenizer learned from the training prompts, trained with
  the generator (each network that reads text owns its copy: in a GAN the generator's and the
  discriminator's text encoders learn from their own losses).

In both cases a `TextEmbedder` inside the network compresses the sentence vector to
`cond_dim` with a linear layer and a leaky ReLU, as Reed et al. (2016, "Generative
Adversarial Text to Image Synthesis") do before conditioning their generator and discriminator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..data.text import normalize_text
from ..errors import PolymodalError

TEXT_ENCODERS = ("minilm", "gru")
MINILM_DIM = 384
GRU_DIM = 128
GRU_MAX_TOKENS = 64


class TextEmbedder(nn.Module):
    """What a network reads from a prompt: cached MiniLM features `[B, 384]` or the strings themselves."""

    def __init__(self, text_encoder: str, cond_dim: int, *, tokenizer: str = "", spectral: bool = False):
        super().__init__()
        if text_encoder not in TEXT_ENCODERS:
            raise PolymodalError(f"unknown text encoder {text_encoder!r}; valid: {', '.join(TEXT_ENCODERS)}")
        self.text_encoder = text_encoder
        if text_encoder == "gru":
            from ..encoders.scratch_text import GRUText

            if not tokenizer:
                raise PolymodalError("the gru text encoder needs the tokenizer learned from the training prompts")
            self.encoder = GRUText(tokenizer=tokenizer, max_len=GRU_MAX_TOKENS, out_dim=GRU_DIM)
            in_dim = GRU_DIM
        else:
            self.encoder, in_dim = None, MINILM_DIM
        proj = nn.Linear(in_dim, cond_dim)
        self.proj = nn.utils.parametrizations.spectral_norm(proj) if spectral else proj
        self.act = nn.LeakyReLU(0.2)

    def forward(self, cond: torch.Tensor | Sequence[str]) -> torch.Tensor:
        # MiniLM vectors have unit length: scaled so each coordinate is of order 1, like the noise beside
        # it in the generator's input; otherwise the prompt starts as a whisper next to z.
        x = self.encoder(list(cond)).pooled if self.encoder is not None else cond * MINILM_DIM ** 0.5
        return self.act(self.proj(x))


class Prompts:
    """Checks prompts and turns them into model inputs for one text encoder."""

    def __init__(self, text_encoder: str, tokenizer: str = ""):
        if text_encoder not in TEXT_ENCODERS:
            raise PolymodalError(f"unknown text encoder {text_encoder!r}; valid: {', '.join(TEXT_ENCODERS)}")
        self.text_encoder, self.tokenizer = text_encoder, tokenizer
        self._minilm = None
        self._tok = None

    @staticmethod
    def learn_tokenizer(texts: Sequence[str]) -> str:
        """The JSON of a word tokenizer fitted on the training prompts (for the gru encoder)."""
        from ..text.tokenizer import Tokenizer

        return Tokenizer("word").fit(list(texts)).to_json()

    @property
    def max_tokens(self) -> int:
        return 128 if self.text_encoder == "minilm" else GRU_MAX_TOKENS

    def check(self, prompts: Sequence[str], *, where: str = "prompt") -> list[str]:
        """Normalised prompts; a PolymodalError naming each empty prompt or prompt over the limit."""
        if isinstance(prompts, str):
            raise PolymodalError("prompts must be a list of strings, not one string")
        texts = [normalize_text(p) if isinstance(p, str) else p for p in prompts]
        bad = [f"{where} {i}: " + ("not a string" if not isinstance(t, str) else "empty") for i, t in
               enumerate(texts) if not isinstance(t, str) or not t]
        if not bad:
            lengths = self.token_counts(texts)
            bad = [f"{where} {i}: {n} tokens, longer than this model's limit of {self.max_tokens} ({t[:40]!r}...)"
                   for i, (t, n) in enumerate(zip(texts, lengths, strict=True)) if n > self.max_tokens]
        if bad:
            more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
            raise PolymodalError(f"{len(bad)} bad prompt(s):\n  " + "\n  ".join(bad[:10]) + more)
        return texts

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per prompt, the special tokens included, as the text encoder would see them."""
        if self.text_encoder == "minilm":
            tok = self.minilm().tokenizer
            return [len(ids) for ids in tok(list(texts), add_special_tokens=True, truncation=False)["input_ids"]]
        if self._tok is None:
            from ..text.tokenizer import Tokenizer

            self._tok = Tokenizer.from_json(self.tokenizer)
        return [len(self._tok.encode(t)) for t in texts]

    def minilm(self):
        if self._minilm is None:
            from ..encoders.base import build_encoder

            self._minilm = build_encoder("minilm")
        return self._minilm

    def inputs(self, prompts: Sequence[str], *, progress: bool = False) -> torch.Tensor | list[str]:
        """Checked prompts -> MiniLM features through the feature cache, or the strings for a gru."""
        texts = self.check(prompts)
        if self.text_encoder == "gru":
            return texts
        from ..encoders.cache import FeatureCache

        feats, _ = FeatureCache().extract(self.minilm(), texts, progress=progress)
        return torch.from_numpy(feats)
