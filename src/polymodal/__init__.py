"""polymodal: train, evaluate and serve multimodal models on your own table, on a CPU.

The public API is imported lazily: `import polymodal` is instant, and torch is loaded the first
time a name that needs it is used (worker processes and the CLI's --help stay fast)."""

from __future__ import annotations

import importlib
import os as _os

__version__ = "0.1.0"

# Hugging Face tokenizers warn (and serialise) when worker processes fork after tokenizing.
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_EXPORTS = {
    "Batch": "data.dataset",
    "MultimodalDataset": "data.dataset",
    "default_loaders": "data.dataset",
    "make_loader": "data.dataset",
    "read_table": "data.table",
    "Table": "data.table",
    "validate": "data.validate",
    "Aligner": "alignment.aligner",
    "Captioner": "captioning.captioner",
    "Ensemble": "predict.ensemble",
    "Generator": "generation.generator",
    "PolymodalError": "errors",
    "Problem": "errors",
    "TableError": "errors",
    "ValidationError": "errors",
    "summarize": "data.summary",
    "Predictor": "predict.predictor",
    "Schema": "schema",
    "detect_schema": "schema",
    "load": "api",
    "compare_runs": "api",
    "list_recipes": "data.recipes",
}
_RENAMED = {"build_dataset": ("data.recipes", "build")}

__all__ = sorted([*_EXPORTS, *_RENAMED, "__version__"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
    else:
        raise AttributeError(f"module 'polymodal' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
