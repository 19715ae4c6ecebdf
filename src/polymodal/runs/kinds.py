"""The table of job kinds: `kind` in polymodal.json -> the job class that reads it. `polymodal.load`,
the run checks, `fit --task` and the server's endpoints all go through it; adding a job is one line."""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import PolymodalError
from .directory import run_kind

# kind -> (module, class); imported on first use so that loading a captioner never imports FAISS
KINDS = {"predictor": ("polymodal.predict.predictor", "Predictor"),
         "aligner": ("polymodal.alignment.aligner", "Aligner"),
         "captioner": ("polymodal.captioning.captioner", "Captioner"),
         "generator": ("polymodal.generation.generator", "Generator")}


def job_class(kind: str):
    if kind not in KINDS:
        raise PolymodalError(f"unknown run kind {kind!r}; known: {', '.join(KINDS)}")
    module, name = KINDS[kind]
    return getattr(importlib.import_module(module), name)


def load(path: str | Path):
    """Restore a run directory of any kind (the model, its encoders, schema and task)."""
    return job_class(run_kind(path)).load(path)
