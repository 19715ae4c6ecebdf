"""Text utilities shared by encoders and decoders: the learned tokenizer."""

from .tokenizer import SPECIALS, Tokenizer

__all__ = ["SPECIALS", "Tokenizer"]
