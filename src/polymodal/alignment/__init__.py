"""Cross-modal alignment: map two modalities into one space where a match scores high."""

from .asif import ASIF

__all__ = ["ASIF"]
