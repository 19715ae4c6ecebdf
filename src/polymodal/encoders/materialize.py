"""From table cells to model inputs: cached features for frozen encoders, loaded tensors for
trainable ones. Every column yields values for all rows plus a presence mask."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.table import Table, resolve_path
from ..data.validate import is_missing
from ..errors import PolymodalError
from ..registry import parse_value
from ..schema import FILE_ROLES, Schema
from ..training.data import ArrayData
from .base import Encoder, build_encoder, default_encoder


def parse_encoder_spec(spec: str | dict[str, str] | None) -> dict[str, str]:
    """'image=efficientnet-lite0,text=minilm' -> {'image': 'efficientnet-lite0', 'text': 'minilm'}."""
    if spec is None or isinstance(spec, dict):
        return dict(spec or {})
    out = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if "=" not in part:
            raise PolymodalError(f"--encoders expects ROLE_OR_COLUMN=NAME pairs, got {part!r}")
        key, name = part.split("=", 1)
        out[key.strip()] = name.strip()
    return out


def is_cached(encoder: Encoder) -> bool:
    """Features are cached only for frozen encoders whose function never changes (pretrained or
    fixed): a frozen encoder with freshly initialised weights would poison the cache."""
    return encoder.mode == "frozen" and encoder.pretrained


def parse_encoder_name(text: str) -> tuple[str, dict]:
    """'cnn:image_size=32:width=16' -> ('cnn', {'image_size': 32, 'width': 16}); 'hf:PATH' is kept whole."""
    if text.startswith("hf:"):
        return text, {}
    name, *options = text.split(":")
    kwargs = {}
    for option in options:
        if "=" not in option:
            raise PolymodalError(f"encoder option {option!r} in {text!r} is not KEY=VALUE")
        key, value = option.split("=", 1)
        kwargs[key] = parse_value(value)
    return name, kwargs


def choose_encoders(schema: Schema, columns: list[str], spec: dict[str, str], *, pretrained: bool = True,
                    mode: str | None = None) -> dict[str, Encoder]:
    """One encoder per input column: by column name in `spec`, else by role, else the default."""
    roles = schema.modalities
    from ..schema import MODALITY_ROLES

    unknown = set(spec) - set(columns) - set(MODALITY_ROLES)  # a role with no column here is fine
    if unknown:
        raise PolymodalError(f"--encoders names {sorted(unknown)}, which is neither an input column nor a role; "
                             f"columns: {', '.join(columns)}; roles: {', '.join(MODALITY_ROLES)}")
    encoders = {}
    for column in columns:
        role = roles[column]
        name = spec.get(column) or spec.get(role) or default_encoder(role, pretrained=pretrained)
        base, options = parse_encoder_name(name)
        if role == "tabular":  # the group's encoder learns each member column by its own role
            options = {"roles": {m: schema.role(m) for m in schema.members(column)}, **options}
        encoder = build_encoder(base, **options)
        if role not in encoder.roles:
            raise PolymodalError(f"encoder {name!r} takes {', '.join(encoder.roles)}, "
                                 f"but column {column!r} is {role}")
        encoder.set_mode(mode or ("frozen" if encoder.pretrained else "full"))
        encoders[column] = encoder
    return encoders


def cell_values(table: Table, column: str, role: str) -> list[Any]:
    """The column's cells ready for a loader: resolved paths, stripped text, None when absent."""
    values = table.df[column].tolist() if column in table.df.columns else [None] * len(table)
    out = []
    for v in values:
        if is_missing(v) or (isinstance(v, str) and not v.strip()):
            out.append(None)
        elif role in FILE_ROLES:
            out.append(resolve_path(str(v).strip(), table.base_dir))
        else:
            out.append(v)
    return out


def load_inputs(encoder: Encoder, values: list[Any], *, workers: int = 4, progress: bool = True,
                desc: str = "") -> tuple[Any, torch.Tensor]:
    """Run the encoder's loader on every present cell (threads overlap the decoding)."""
    loader = encoder.loader()
    present = torch.tensor([v is not None for v in values], dtype=torch.bool)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded = list(tqdm(pool.map(lambda v: loader(v) if v is not None else loader.empty(), values),
                           total=len(values), desc=desc, leave=False,
                           disable=not progress or not sys.stderr.isatty()))
    if loaded and isinstance(loaded[0], torch.Tensor):
        return torch.stack(loaded), present
    return loaded, present


def materialize(table: Table, schema: Schema, encoders: dict[str, Encoder], *, cache=None,
                progress: bool = True, workers: int = 4) -> ArrayData:
    """Every input column for every row: features [N, D] when the encoder is frozen (through the
    feature cache), loader outputs otherwise."""
    from .cache import FeatureCache

    cache = cache or FeatureCache()
    inputs, masks = {}, {}
    for column, encoder in encoders.items():
        values = cell_values(table, column, schema.modalities[column])
        if is_cached(encoder):
            feats, present = cache.extract(encoder, [None if v is None else v for v in values],
                                           base_dir=table.base_dir, progress=progress)
            inputs[column] = torch.from_numpy(np.asarray(feats, dtype=np.float32))
            masks[column] = torch.as_tensor(present, dtype=torch.bool)
        else:
            inputs[column], masks[column] = load_inputs(encoder, values, workers=workers, progress=progress,
                                                        desc=column)
    return ArrayData(inputs, masks)
