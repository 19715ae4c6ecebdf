"""polymodal: train, evaluate and serve multimodal models on your own table, on a CPU."""

from __future__ import annotations

__version__ = "0.1.0"

import os as _os

# Hugging Face tokenizers warn (and serialise) when worker processes fork after tokenizing.
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .api import compare_runs, load
from .data.dataset import Batch, MultimodalDataset, default_loaders, make_loader
from .data.recipes import build as build_dataset
from .data.recipes import list_recipes
from .data.table import Table, read_table
from .data.validate import validate
from .errors import PolymodalError, Problem, TableError, ValidationError
from .inspect_table import summarize
from .predictor import Predictor
from .schema import Schema, detect_schema

__all__ = [
    "Batch",
    "MultimodalDataset",
    "PolymodalError",
    "Predictor",
    "Problem",
    "Schema",
    "Table",
    "TableError",
    "ValidationError",
    "__version__",
    "build_dataset",
    "compare_runs",
    "default_loaders",
    "detect_schema",
    "list_recipes",
    "load",
    "make_loader",
    "read_table",
    "summarize",
    "validate",
]
