"""Persistent vector index for cross-modal search: embeddings + metadata rows, FAISS search, saved as a
folder (index.faiss, rows.parquet, index.json). Needs `faiss-cpu`."""

from __future__ import annotations

from .storage import FORMAT_VERSION
from .vector_index import VectorIndex

__all__ = ["FORMAT_VERSION", "VectorIndex"]
