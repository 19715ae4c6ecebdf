"""The replay reservoir a fitted predictor keeps for online updates (`fit NEW --warm-start RUN`, predict/warm.py).

A uniform sample of up to `size` of the rows a run trained and chose on, as the model's inputs (cached features,
tabular vectors, loaded pixels), their targets and their split, kept in RUN/replay/:

    rows.safetensors   input/<column>, mask/<column>, target[/<label>], split (0 train, 1 validation)
    replay.json        rows kept, rows seen so far, dtypes, text inputs (lists of strings), the candidate plan
    encoders.json      every input column's encoder (encoders.json beside the model keeps only the model's own)

Reservoir sampling (Vitter 1985's algorithm R): after rows 1..t have streamed past, each is in the reservoir with
probability size/t, whichever update it came with. So the reservoir of a run updated three times is a uniform
sample of every row the three fits and the original one used, not a sample biased to the newest. Written by hand:
the algorithm is a few lines, and the libraries that have it (river) sample Python objects one at a time.

Floating-point inputs are stored as float16, half the bytes of a replay (a replayed row is a training example: its
rounding, 3 decimal digits, is far below the noise every epoch adds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..encoders.base import Encoder, encoders_from_state, encoders_state
from ..runs.files import load_tensors, read_json, save_tensors, write_json
from ..training.data import ArrayData

DEFAULT_SIZE = 1000
FOLDER = "replay"
TRAIN, VAL = 0, 1


@dataclass
class Replay:
    data: ArrayData  # the reservoir's rows: inputs of every input column, masks, targets
    split: np.ndarray  # per row: TRAIN or VAL, the part of the fit that used it
    seen: int  # the rows the reservoir was drawn from, over every fit and update so far
    plan: dict  # the candidates the run trained: fusions, baselines, classical, fusion options, widths

    def __len__(self) -> int:
        return len(self.split)

    def part(self, which: int) -> ArrayData:
        return self.data.subset(torch.as_tensor(np.flatnonzero(self.split == which), dtype=torch.long))


def check_size(size) -> None:
    from ..errors import PolymodalError

    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
        raise PolymodalError(f"replay must be a whole number of rows, 0 or more (0 keeps no reservoir), not {size!r}")


def draw(previous: Replay | None, data: ArrayData, parts: dict[str, np.ndarray], size: int, plan: dict, *,
         seed: int = 0) -> Replay | None:
    """The reservoir after `previous` (None: a first fit) saw the training and validation rows of `data`
    (`parts`), by algorithm R; None when `size` is 0."""
    if size <= 0:
        return None
    rng = np.random.default_rng([seed, 7919])
    new = np.concatenate([parts["train"], parts["val"]])
    tags = np.concatenate([np.full(len(parts["train"]), TRAIN), np.full(len(parts["val"]), VAL)]).astype(np.int8)
    # each slot: (0, row of previous) or (1, row of data)
    slots: list[tuple[int, int]] = []
    seen = 0
    if previous is not None and len(previous):
        if previous.seen > len(previous):  # a full reservoir cannot grow: its rows are a sample of `seen` already
            size = min(size, len(previous))
        keep = np.arange(len(previous))
        if len(keep) > size:  # a smaller reservoir than before: a uniform subsample is still uniform
            keep = np.sort(rng.choice(keep, size, replace=False))
        slots, seen = [(0, int(i)) for i in keep], previous.seen
    t = seen + np.arange(1, len(new) + 1)  # the position in the stream of every new row
    draws = rng.integers(0, t)  # algorithm R: row t replaces slot j when j < size, j uniform in [0, t)
    for i, j in enumerate(draws):
        if len(slots) < size:
            slots.append((1, i))
        elif j < size:
            slots[j] = (1, i)
    old_rows = [i for src, i in slots if src == 0]
    new_rows = [i for src, i in slots if src == 1]
    pieces, split = [], []
    if old_rows:
        pieces.append(previous.data.subset(torch.as_tensor(old_rows, dtype=torch.long)))
        split.append(previous.split[old_rows])
    if new_rows:
        rows = torch.as_tensor(new[new_rows], dtype=torch.long)
        pieces.append(_plain(data.subset(rows), list(previous.data.masks) if previous else list(data.masks)))
        split.append(tags[new_rows])
    if not pieces:
        return None
    merged = pieces[0] if len(pieces) == 1 else ArrayData.concat([_plain(p, list(pieces[0].masks)) for p in pieces])
    merged.groups = None
    return Replay(merged, np.concatenate(split).astype(np.int8), seen + len(new), plan)


def _plain(data: ArrayData, columns: list[str]) -> ArrayData:
    """Only the input columns' own values (no augmented views, no teacher outputs), floats as float32."""
    inputs = {c: data.inputs[c].float() if isinstance(data.inputs[c], torch.Tensor)
              and data.inputs[c].is_floating_point() else data.inputs[c] for c in columns}
    return ArrayData(inputs, {c: data.masks[c] for c in columns}, data.targets, None)


def save(replay: Replay | None, encoders: dict[str, Encoder], run: Path) -> None:
    """RUN/replay/, or nothing when there is no reservoir."""
    if replay is None:
        return
    folder = run / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    tensors, dtypes, lists = {}, {}, {}
    for column, values in replay.data.inputs.items():
        if isinstance(values, torch.Tensor):
            dtypes[column] = str(values.dtype).removeprefix("torch.")
            tensors[f"input/{column}"] = values.half() if values.is_floating_point() else values
        else:  # a trainable text encoder's strings
            lists[column] = list(values)
    for column, mask in replay.data.masks.items():
        tensors[f"mask/{column}"] = mask
    targets = replay.data.targets
    if isinstance(targets, dict):
        tensors.update({f"target/{k}": v for k, v in targets.items()})
    elif targets is not None:
        tensors["target"] = targets
    tensors["split"] = torch.as_tensor(replay.split)
    save_tensors({k: v.contiguous() for k, v in tensors.items()}, folder / "rows.safetensors")
    write_json(folder / "encoders.json", encoders_state({c: encoders[c] for c in replay.data.masks}))
    write_json(folder / "replay.json", {"rows": len(replay), "seen": replay.seen, "dtypes": dtypes, "lists": lists,
                                        "columns": list(replay.data.masks), "plan": replay.plan})


def load(run: Path) -> tuple[Replay, dict[str, Encoder]] | None:
    """The run's reservoir and the encoders of its input columns, or None for a run without one."""
    folder = Path(run) / FOLDER
    if not (folder / "replay.json").exists():
        return None
    meta, tensors = read_json(folder / "replay.json"), load_tensors(folder / "rows.safetensors")
    inputs = {c: tensors[f"input/{c}"].to(getattr(torch, meta["dtypes"][c])) if c in meta["dtypes"]
              else meta["lists"][c] for c in meta["columns"]}
    masks = {c: tensors[f"mask/{c}"] for c in meta["columns"]}
    labelled = {k.removeprefix("target/"): v for k, v in tensors.items() if k.startswith("target/")}
    targets = labelled or tensors.get("target")
    data = ArrayData(inputs, masks, targets)
    encoders = encoders_from_state(read_json(folder / "encoders.json"))
    return Replay(data, tensors["split"].numpy().astype(np.int8), int(meta["seen"]), meta["plan"]), encoders
