"""/search over an index built by `polymodal index build`: a text, image or audio query embedded by
the run that built the index, the nearest rows back, and each hit's file served by its row id."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..alignment.spoken import NAME as SPOKEN
from ..alignment.spoken import RERANK, by_sound
from ..encoders.online import ColumnEncoder, load_cell
from ..errors import PolymodalError
from ..index import VectorIndex
from ..schema import FILE_ROLES
from .errors import bad_input, not_found
from .schemas import Hit

QUERY_ROLES = ("text", "image", "audio")
MAX_K = 100


class SearchService:
    def __init__(self, folder: Path, name: str):
        from ..alignment.aligner import Aligner

        self.index, self.name = VectorIndex.load(folder), name
        meta = self.index.meta
        if not meta.get("run"):
            raise PolymodalError(f"{folder}: this index does not name the run that built it")
        self.aligner = Aligner.load(meta["run"])
        self.column, self.role = meta.get("column", ""), meta.get("role", "")
        roles = self.aligner.schema_.modalities
        self.towers = {}  # query role -> (column, encoder): the first aligned column of that role
        for column in self.aligner.columns_:
            if roles.get(column) in QUERY_ROLES and roles[column] not in self.towers:
                self.towers[roles[column]] = (column, ColumnEncoder(self.aligner.encoders_[column]))
        self.hidden = {c for c, r in roles.items() if r in FILE_ROLES}  # server paths never leave

    @property
    def query_roles(self) -> list[str]:
        return sorted(self.towers)

    def _load(self, role: str, cell: Any) -> Any:
        if role not in self.towers:
            raise bad_input(f"index {self.name!r} cannot be searched by {role}; it takes "
                            f"{', '.join(self.query_roles)} queries")
        try:
            return load_cell(self.towers[role][1].encoder, cell)
        except Exception as exc:
            raise bad_input(f"the {role} query could not be read: {exc}") from exc

    def embed(self, role: str, cell: Any, loaded: Any = None) -> np.ndarray:
        loaded = self._load(role, cell) if loaded is None else loaded  # refuses a role with no tower
        column, encoder = self.towers[role]
        inputs, _ = encoder([loaded])
        return self.aligner.embed_inputs(column, inputs).numpy()  # whichever method the run chose

    def search(self, role: str, cell: Any, k: int) -> list[Hit]:
        if not 1 <= k <= MAX_K:
            raise bad_input(f"k must be between 1 and {MAX_K}, got {k}")
        loaded = self._load(role, cell)
        query = self.embed(role, cell, loaded)
        if self.aligner.method_ == SPOKEN:  # the nearest by the embedding, ordered by how the words sound
            space = self.aligner.space_
            heard = space.listener.heard(loaded[None])[0] if role == "audio" else None
            frame = by_sound(space, self.index.search(query, k=max(k, RERANK))[0], self.column,
                             text=cell if role == "text" else None, heard=heard, k=k)
        else:
            frame = self.index.search(query, k=k)[0]
        media = self.role in ("image", "audio")
        hits = []
        for rec in frame.to_dict(orient="records"):
            row = int(rec.pop("row"))
            fields = {k: _plain(v) for k, v in rec.items() if k not in ("rank", "score") and k not in self.hidden}
            hits.append(Hit(rank=int(rec["rank"]), score=float(rec["score"]), row=row, fields=fields,
                            media_url=f"/media/{self.name}/{row}" if media else None))
        return hits

    def media(self, row: int) -> Path:
        """The indexed file of row `row` (only rows of this index; never a path from the client)."""
        if not 0 <= row < len(self.index):
            raise not_found(f"index {self.name!r} has no row {row} (it has {len(self.index)} rows)")
        value = self.index.rows[self.column].iloc[row] if self.column in self.index.rows else None
        if not isinstance(value, str) or not Path(value).is_file():
            raise not_found(f"row {row} of index {self.name!r} has no file")
        return Path(value)


def _plain(value: Any) -> Any:
    """JSON-able: numpy scalars to Python, NaN to None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value
