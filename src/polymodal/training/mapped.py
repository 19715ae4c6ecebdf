"""Training rows whose features stay on disk: `MappedData`, the successor of `ArrayData` for tables larger than
memory.

`polymodal features extract TABLE --out DIR` (encoders/sharded.py) writes each column's features as row-aligned
Arrow IPC parts. `MappedData.from_extraction(DIR, columns, targets)` memory-maps them (nothing is read until a
batch asks for its rows), keeps only the presence masks and the targets in memory (a byte and a label a row), and
gives the training loop what it asks of `ArrayData`: `len`, `take(idx)` (one batch, gathered part by part),
`subset(idx)` (a view through a row map, no copy), `only(columns)`, `drop(column)`, `targets`, `masks`.
So `training.loop.train` runs on it unchanged, and peak memory follows the batch, not the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import PolymodalError
from .data import Targets, take


@dataclass
class _Column:
    parts: list[np.ndarray]  # memory-mapped [n_i, D] float32, in row order
    starts: np.ndarray  # first row of each part

    def rows(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.parts[0].shape[1]), np.float32)
        which = np.searchsorted(self.starts, rows, side="right") - 1
        for p in np.unique(which):
            pick = which == p
            out[pick] = self.parts[p][rows[pick] - self.starts[p]]
        return out


class _Inputs(Mapping):
    def __init__(self, data: MappedData):
        self._data = data

    def __getitem__(self, column: str) -> torch.Tensor:
        if column not in self._data._columns:
            raise KeyError(column)
        return torch.from_numpy(self._data._columns[column].rows(self._data._rows))

    def __iter__(self):
        return iter(self._data._columns)

    def __len__(self) -> int:
        return len(self._data._columns)


class MappedData:
    def __init__(self, columns: dict[str, _Column], masks: dict[str, torch.Tensor], targets: Targets,
                 rows: np.ndarray, groups: torch.Tensor | None = None):
        self._columns, self._all_masks, self._all_targets = columns, masks, targets
        self._rows, self.groups = rows, groups

    @classmethod
    def from_extraction(cls, folder: str | Path, columns: list[str], targets: Targets = None) -> MappedData:
        """The columns of a finished `features extract --out DIR`, every shard done (`targets`: one per row)."""
        from ..encoders.sharded import finished_parts, part_chunks

        folder = Path(folder)
        mapped, masks, status = {}, {}, None
        for column in columns:
            status, paths = finished_parts(folder, column)
            read = [chunk for p in paths for chunk in part_chunks(p) if len(chunk[0])]  # each part's record batches
            if not read:
                raise PolymodalError(f"{folder}: no rows of features in column {column!r}")
            mapped[column] = _Column([feats for _, _, feats in read], np.array([int(r[0]) for r, _, _ in read]))
            masks[column] = torch.from_numpy(np.concatenate([present for _, present, _ in read]).astype(bool))
        n = status["rows"] if status is not None else 0
        given = len(next(iter(targets.values())) if isinstance(targets, dict) else targets) if targets is not None \
            else n
        if given != n:
            raise PolymodalError(f"{folder}: {n} rows of features but targets for {given} rows")
        return cls(mapped, masks, targets, np.arange(n))

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def masks(self) -> dict[str, torch.Tensor]:
        return take(self._all_masks, torch.from_numpy(self._rows))

    @property
    def targets(self) -> Targets:
        return take(self._all_targets, torch.from_numpy(self._rows))

    @property
    def inputs(self) -> _Inputs:
        """The columns by name, each read whole when asked for (`data.inputs[c]`): only for small data, use `take`
        for batches. Asking which columns there are (`"x" in data.inputs`) reads nothing."""
        return _Inputs(self)

    def take(self, idx: torch.Tensor) -> tuple[dict, dict, Targets]:
        rows = self._rows[np.asarray(idx, dtype=np.int64)]
        order = np.argsort(rows, kind="stable")  # read each part in row order, then put the batch back in its own
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        sorted_rows = rows[order]
        inputs = {c: torch.from_numpy(col.rows(sorted_rows)[back]) for c, col in self._columns.items()}
        t = torch.from_numpy(rows)
        return inputs, take(self._all_masks, t), take(self._all_targets, t)

    def subset(self, idx: torch.Tensor) -> MappedData:
        i = np.asarray(idx, dtype=np.int64)
        return MappedData(self._columns, self._all_masks, self._all_targets, self._rows[i],
                          take(self.groups, torch.from_numpy(i)))

    def only(self, columns: list[str]) -> MappedData:
        return MappedData({c: self._columns[c] for c in columns}, {c: self._all_masks[c] for c in columns},
                          self._all_targets, self._rows, self.groups)

    def drop(self, column: str) -> MappedData:
        masks = dict(self._all_masks)
        masks[column] = torch.zeros_like(masks[column])
        return MappedData(self._columns, masks, self._all_targets, self._rows, self.groups)
