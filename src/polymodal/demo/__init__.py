"""The main job on the built-in data (`make demo`, `polymodal demo`): run.py drives it, shapes.py fits
the captioner and generators on `shapes`, report.py lays out the one report."""

from .run import run_demo

__all__ = ["run_demo"]
