"""A tokenizer learned from the training text, on top of Hugging Face `tokenizers`.

Two kinds:
- "word" (default): NFKC, lowercase, split on white space and isolate every
  punctuation character; one id per word seen at least `min_frequency` times.
- "bpe": the same normalisation, then byte-pair merges learned up to `vocab_size`
  (Sennrich et al. 2016); white space is kept as a "▁" prefix (SentencePiece
  style), so decoding restores the normalised text exactly.

Special ids are fixed, `<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3, so padded
batches, masks and decoders can rely on them. `to_json()` holds everything,
vocabulary included, and `Tokenizer.from_json` rebuilds the same tokenizer.
"""

from __future__ import annotations

import json

import torch
from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers import Tokenizer as _HFTokenizer

from ..errors import PolymodalError

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
KINDS = ("word", "bpe")
# Word-level decoding glues these to their neighbour ("red, dog's") instead of spacing them.
# All are punctuation, which the pre-tokenizer always isolates, so spacing never changes the ids.
_GLUE_LEFT = frozenset(".,!?;:%)]}'-/")
_GLUE_RIGHT = frozenset("([{'-/")


class Tokenizer:
    """Text -> ids and back. `fit(texts)` learns the vocabulary; everything else needs it."""

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(self, kind: str = "word", vocab_size: int = 8000, min_frequency: int = 1,
                 lowercase: bool = True) -> None:
        if kind not in KINDS:
            raise PolymodalError(f"unknown tokenizer kind {kind!r}; valid: {', '.join(KINDS)}")
        if vocab_size <= len(SPECIALS):
            raise PolymodalError(f"tokenizer vocab_size must be more than {len(SPECIALS)}, got {vocab_size}")
        self.kind, self.vocab_max, self.min_frequency, self.lowercase = kind, vocab_size, min_frequency, lowercase
        self._tok: _HFTokenizer | None = None

    # ---- learning -------------------------------------------------------------------------------
    def fit(self, texts) -> Tokenizer:
        """Learn the vocabulary from an iterable of strings (None and non-strings are skipped)."""
        tok = self._pipeline()
        trainer_cls = trainers.WordLevelTrainer if self.kind == "word" else trainers.BpeTrainer
        trainer = trainer_cls(vocab_size=self.vocab_max, min_frequency=self.min_frequency,
                              special_tokens=list(SPECIALS), show_progress=False)
        tok.train_from_iterator((t for t in texts if isinstance(t, str)), trainer=trainer)
        self._tok = _check_specials(tok)
        return self

    def _pipeline(self) -> _HFTokenizer:
        steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if self.lowercase else [])
        if self.kind == "word":
            tok = _HFTokenizer(models.WordLevel(unk_token="<unk>"))
            tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                         pre_tokenizers.Punctuation()])
        else:
            tok = _HFTokenizer(models.BPE(unk_token="<unk>"))
            steps += [normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
            tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
            tok.decoder = decoders.Metaspace()
        tok.normalizer = normalizers.Sequence(steps)
        return tok

    @property
    def fitted(self) -> bool:
        return self._tok is not None

    @property
    def hf(self) -> _HFTokenizer:
        """The underlying Hugging Face tokenizer (raises if not fitted)."""
        if self._tok is None:
            raise PolymodalError("the tokenizer is not fitted yet; call fit(texts) first")
        return self._tok

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included (only the specials before `fit`)."""
        return self._tok.get_vocab_size() if self._tok is not None else len(SPECIALS)

    def token_to_id(self, token: str) -> int:
        found = self.hf.token_to_id(token)
        return UNK_ID if found is None else found

    def id_to_token(self, i: int) -> str:
        return self.hf.id_to_token(int(i)) or "<unk>"

    # ---- text -> ids ----------------------------------------------------------------------------
    def normalize(self, text: str) -> str:
        """The canonical form of `text`: what `decode(encode(text))` returns when every word is known."""
        norm = self.hf.normalizer.normalize_str(text)
        if self.kind == "bpe":
            return norm
        return _join_words([w for w, _ in self.hf.pre_tokenizer.pre_tokenize_str(norm)])

    def encode(self, text: str, max_len: int | None = None, add_special: bool = True) -> list[int]:
        """Ids of `text`, wrapped in `<bos>`/`<eos>` by default; truncated to `max_len` ids (eos kept)."""
        return self._wrap(self.hf.encode(text or "", add_special_tokens=False).ids, max_len, add_special)

    def encode_batch(self, texts, max_len: int | None = None,
                     add_special: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ids LongTensor [B, T] and mask BoolTensor [B, T] (True on real tokens).

        T is the longest sequence in the batch (at most `max_len`, at least 1), so an
        all-empty batch still has a shape every model accepts.
        """
        encoded = self.hf.encode_batch([t or "" for t in texts], add_special_tokens=False)
        rows = [self._wrap(e.ids, max_len, add_special) for e in encoded]
        width = max([1, *map(len, rows)])
        ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask = torch.arange(width)[None, :] < torch.tensor([len(r) for r in rows], dtype=torch.long)[:, None]
        return ids, mask

    def _wrap(self, ids: list[int], max_len: int | None, add_special: bool) -> list[int]:
        if max_len is not None and max_len < (2 if add_special else 0):
            raise PolymodalError(f"max_len must leave room for <bos> and <eos>, got {max_len}")
        if not add_special:
            return ids[:max_len] if max_len is not None else ids
        body = ids[: max_len - 2] if max_len is not None else ids
        return [BOS_ID, *body, EOS_ID]

    # ---- ids -> text ----------------------------------------------------------------------------
    def decode(self, ids, skip_special: bool = True) -> str:
        """Text of `ids` (list or 1-D tensor). `<pad>`, `<bos>`, `<eos>` are dropped; `<unk>` is shown."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        skip = {PAD_ID, BOS_ID, EOS_ID} if skip_special else set()
        tokens = [self.id_to_token(i) for i in ids if int(i) not in skip]
        if self.kind == "bpe":
            return self.hf.decoder.decode(tokens)
        return _join_words(tokens)

    # ---- saving ---------------------------------------------------------------------------------
    def to_json(self) -> str:
        """Everything needed to rebuild this tokenizer, vocabulary included, as one JSON string."""
        state = {"kind": self.kind, "vocab_size": self.vocab_max, "min_frequency": self.min_frequency,
                 "lowercase": self.lowercase, "model": json.loads(self._tok.to_str()) if self._tok else None}
        return json.dumps(state, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Tokenizer:
        try:
            state = json.loads(text)
            tok = cls(state["kind"], state["vocab_size"], state["min_frequency"], state["lowercase"])
            model = state["model"] and _HFTokenizer.from_str(json.dumps(state["model"]))
        except PolymodalError:
            raise
        except Exception as exc:  # JSON, missing keys, or the Rust side refusing the model
            raise PolymodalError(f"not a valid polymodal tokenizer JSON: {exc}") from exc
        tok._tok = _check_specials(model) if model else None
        return tok

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_json() == other.to_json()

    __hash__ = None  # mutable (fit), so not hashable

    def __repr__(self) -> str:
        return f"Tokenizer(kind={self.kind!r}, vocab_size={self.vocab_size}, fitted={self.fitted})"


def _check_specials(tok: _HFTokenizer) -> _HFTokenizer:
    for want, token in enumerate(SPECIALS):
        if tok.token_to_id(token) != want:
            raise PolymodalError(f"tokenizer has {token} at id {tok.token_to_id(token)}, expected {want}")
    return tok


def _join_words(words: list[str]) -> str:
    """Words back into text: single spaces, except around punctuation that reads glued ("red, dog's")."""
    out, prev = "", None
    for word in words:
        glue = prev is None or word in _GLUE_LEFT or prev in _GLUE_RIGHT
        out, prev = out + (word if glue else " " + word), word
    return out
