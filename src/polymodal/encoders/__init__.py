"""Encoders: one modality of a batch -> features. See base.py for the contract."""

from .base import ENCODERS, MODES, Encoder, EncoderOutput, build_encoder, default_encoder, load_all, register_encoder

__all__ = ["ENCODERS", "MODES", "Encoder", "EncoderOutput", "build_encoder", "default_encoder", "load_all",
           "register_encoder"]
