"""What a server serves: run directories and index folders, each under a name (its folder's name)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PolymodalError
from ..runs.directory import run_kind

ENDPOINTS = {"predictor": "/predict", "index": "/search", "captioner": "/caption", "generator": "/generate"}


@dataclass
class Served:
    name: str
    kind: str  # predictor, index, captioner or generator
    path: Path
    obj: Any  # the loaded run (Predictor, Captioner, Generator) or, for an index, its SearchService
    service: Any = None  # PredictService for a predictor

    @property
    def endpoint(self) -> str:
        return ENDPOINTS[self.kind]


def kind_of(path: Path) -> str:
    if (path / "index.json").is_file():
        return "index"
    kind = run_kind(path)
    if kind == "aligner":
        raise PolymodalError(f"{path}: an alignment run is served through an index of it: build one with "
                             f"`polymodal index build {path} TABLE --column COL --out INDEX` and serve INDEX")
    if kind not in ENDPOINTS:
        raise PolymodalError(f"{path}: runs of kind {kind!r} cannot be served; servable: {', '.join(ENDPOINTS)}")
    return kind


def unique_name(path: Path, taken: set[str]) -> str:
    base = path.resolve().name or "run"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    return name


def load_served(paths: list[str | Path]) -> dict[str, Served]:
    """Load every target; a name clash (two folders called `run`) gets `-2`, `-3` ..."""
    from ..runs.kinds import load
    from .search import SearchService

    if not paths:
        raise PolymodalError("give at least one run directory or index folder to serve")
    served: dict[str, Served] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise PolymodalError(f"{path}: no such run directory or index folder")
        kind = kind_of(path)
        name = unique_name(path, set(served))
        obj = SearchService(path, name) if kind == "index" else load(path)
        served[name] = Served(name, kind, path.resolve(), obj)
    return served
