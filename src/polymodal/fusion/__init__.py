"""Fusion zoo: per-modality features + presence masks -> one vector. See base.py for the contract."""

from .base import FUSIONS, Fusion, build_fusion, fusion_names, masked, modality_dropout, register_fusion

__all__ = ["FUSIONS", "Fusion", "build_fusion", "fusion_names", "masked", "modality_dropout", "register_fusion"]
