"""The captioner's input: a column of image or audio files -> token features from a fixed
encoder, through the feature cache (computed once, keyed by encoder id + file content).

Encoders that declare `token_shape` (`efficientnet-lite0-grid`: image regions; `mel-frames`:
audio frames) give several tokens per input; any other cached encoder gives one token, its
pooled features. Trainable encoders are not offered: a caption model trained on top of cached
features is what keeps a fit to minutes on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.table import resolve_path
from ..data.validate import CHECKERS
from ..encoders.base import Encoder, build_encoder
from ..encoders.cache import FeatureCache
from ..encoders.materialize import is_cached, parse_encoder_name
from ..errors import PolymodalError

ROLES = ("image", "audio")
DEFAULT_ENCODERS = {"image": "efficientnet-lite0-grid", "audio": "mel-frames"}


def input_encoder(role: str, spec: str | None = None) -> Encoder:
    """The frozen encoder for the input column (`spec` like 'efficientnet-lite0-grid:grid=3')."""
    if role not in ROLES:
        raise PolymodalError(f"captioning reads an image or audio column, not a {role} column")
    name, options = parse_encoder_name(spec or DEFAULT_ENCODERS[role])
    encoder = build_encoder(name, **options).set_mode("frozen")
    if role not in encoder.roles:
        raise PolymodalError(f"encoder {spec!r} takes {', '.join(encoder.roles)}, but the captioner's input is {role}")
    if not is_cached(encoder):
        raise PolymodalError(f"encoder {name!r} is trained from scratch; captioning needs a fixed, pretrained one "
                             f"whose features are cached (for {role}: {DEFAULT_ENCODERS[role]})")
    return encoder


def token_shape(encoder: Encoder) -> tuple[int, int]:
    return tuple(getattr(encoder, "token_shape", (1, encoder.out_dim)))


def check_files(paths: list[str | Path], role: str) -> list[Path]:
    """Every path exists, is a non-empty file and decodes; else one error naming each bad file."""
    resolved, bad = [], []
    for value in paths:
        path = resolve_path(str(value), Path.cwd()) if str(value).strip() else None
        if path is None:
            bad.append(f"{value!r}: empty path")
        elif not path.is_file():
            bad.append(f"{path}: file not found")
        elif path.stat().st_size == 0:
            bad.append(f"{path}: the file is empty")
        elif (reason := CHECKERS[role](path)) is not None:
            bad.append(reason)
        resolved.append(path)
    if bad:
        raise PolymodalError(f"{len(bad)} {role} file(s) cannot be captioned:\n  " + "\n  ".join(bad))
    return resolved


def token_features(encoder: Encoder, values: list, *, base_dir: str | Path | None = None,
                   progress: bool = True) -> torch.Tensor:
    """[N, tokens * dim] float16 features of file cells (every cell must be present)."""
    feats, present = FeatureCache().extract(encoder, values, base_dir=base_dir, progress=progress)
    if not present.all():
        raise PolymodalError(f"row {int(np.flatnonzero(~present)[0])}: no input file to caption")
    return torch.from_numpy(feats.astype(np.float16))


def pooled(feats: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The mean over tokens, [N, dim] float32: the whole input as one vector (nearest-neighbour baseline)."""
    return feats.float().reshape(len(feats), *shape).mean(1)
