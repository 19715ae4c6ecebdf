"""Closed-form alignment methods (CCA, Procrustes, ridge maps, ASIF): registry in base.py."""

from .base import METHODS, ClosedForm, build_method, fit_on_validation, method_names

__all__ = ["METHODS", "ClosedForm", "build_method", "fit_on_validation", "method_names"]
