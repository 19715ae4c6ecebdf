"""Data augmentation while training (`augment=`, `--augment`): off unless asked for.

    --augment mixup=0.2,image=flip+crop+jitter+rotate,audio=noise+gain+shift+mask,text=dropout+swap

- `mixup=ALPHA` (Zhang et al. 2018, "mixup"): each batch is mixed with a shuffled copy of itself, with
  lambda ~ Beta(ALPHA, ALPHA) taken as max(lambda, 1 - lambda), so each mixed row stays mostly its own row.
  Every floating-point input is mixed (cached features, images, spectrograms); text and category codes,
  which cannot be mixed, and the presence masks come from the row itself. The loss is the lambda-weighted
  sum of the losses against both rows' targets. This is how the frozen, cached encoders get augmentation.
- image (columns read by a trainable image encoder, `[B, 3, H, W]`): `flip` (horizontal, half the rows),
  `crop` (random resized crop over 60-100% of the area, resized back), `jitter` (brightness and contrast,
  +-20%), `rotate` (+-10 degrees).
- audio (trainable audio encoders' log-mel `[B, n_mels, frames]`): `noise` (white noise at an SNR drawn in
  10-30 dB, added in the mel-power domain: each band gets the noise power an average band would have; an
  approximation, as the exact form needs the waveform), `gain` (+-6 dB), `shift` (circular shift by up to
  10% of the frames), `mask` (SpecAugment, Park et al. 2019: one frequency band of up to 15% of the bands and
  one time span of up to 10% of the frames set to the clip's mean).
- text (trainable text encoders' strings): `dropout` (each word dropped with chance 0.1, never all) and
  `swap` (one pair of neighbouring words swapped).

Image, audio and text augmentations change the inputs a trainable encoder reads each epoch. A column read by
a frozen pretrained encoder has its features computed once and cached, so for it the image and text
transforms make `views=K` (default 4) augmented copies of every training and validation input, each
encoded once and cached like the plain features (the view is part of the cache folder's name; each file's
view is drawn from a generator seeded by its content and the view, so it is the same in every run). Each
epoch, each training row is read as its plain features or one of its K views, at random. Audio transforms
act on log-mel spectrograms, which a cached audio encoder never exposes, so for such a column they are
refused with that reason (mixup reaches every column).

Written here rather than taken from torchvision or torchaudio, which the project does not depend on; each
transform is a few tensor operations on a batch.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import PolymodalError

ROLES = ("image", "audio", "text")


def _uniform(n: int, low: float, high: float, g: torch.Generator | None) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _int(low: int, high: int, g: torch.Generator | None) -> int:
    return int(torch.randint(low, high, (), generator=g))


def _flip(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    rows = torch.rand(len(x), generator=g) < 0.5
    return torch.where(rows[:, None, None, None], x.flip(-1), x)


def _crop(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    """A random box of 60-100% of the area (aspect 3/4 to 4/3) per row, resized back to the full size."""
    b = len(x)
    area = _uniform(b, 0.6, 1.0, g)
    aspect = torch.exp(_uniform(b, math.log(3 / 4), math.log(4 / 3), g))
    sw, sh = torch.sqrt(area * aspect).clamp(max=1.0), torch.sqrt(area / aspect).clamp(max=1.0)
    cx, cy = (torch.rand(b, generator=g) * 2 - 1) * (1 - sw), (torch.rand(b, generator=g) * 2 - 1) * (1 - sh)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sw, cx, sh, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid.to(x.dtype), align_corners=False, padding_mode="border")


def _jitter(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    """Contrast by +-20% and brightness by +-20% of the image's own spread, per row (so the same in any
    pixel scale: normalised tensors or 0-1 pixels)."""
    b = len(x)
    contrast = _uniform(b, 0.8, 1.2, g).view(b, 1, 1, 1)
    brightness = _uniform(b, -0.2, 0.2, g).view(b, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    spread = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return (x - mean) * contrast + mean + brightness * spread


def _rotate(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    angle = _uniform(len(x), -10, 10, g) * math.pi / 180
    theta = torch.zeros(len(x), 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle), -torch.sin(angle)
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle), torch.cos(angle)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid.to(x.dtype), align_corners=False, padding_mode="border")


def _noise(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    power = torch.exp(x)
    snr_db = _uniform(len(x), 10, 30, g).view(-1, 1, 1)
    noise = power.mean(dim=(1, 2), keepdim=True) / 10 ** (snr_db / 10)
    return torch.log(power + noise)


def _gain(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    db = _uniform(len(x), -6, 6, g).view(-1, 1, 1)
    return x + db / 10 * math.log(10)  # power in the log domain: +g dB is + g/10 * ln 10


def _shift(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    frames = x.shape[-1]
    return torch.stack([torch.roll(row, _int(-(frames // 10), frames // 10 + 1, g), dims=-1) for row in x])


def _mask(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    out = x.clone()
    bands, frames = x.shape[-2], x.shape[-1]
    for row in out:
        fill = row.mean()
        f = _int(0, max(1, int(0.15 * bands)) + 1, g)
        f0 = _int(0, bands - f + 1, g)
        t = _int(0, max(1, int(0.1 * frames)) + 1, g)
        t0 = _int(0, frames - t + 1, g)
        row[f0:f0 + f, :] = fill
        row[:, t0:t0 + t] = fill
    return out


def _word_dropout(texts: list[str], rng: random.Random) -> list[str]:
    out = []
    for text in texts:
        words = text.split()
        kept = [w for w in words if rng.random() >= 0.1]
        out.append(" ".join(kept) if kept else text)
    return out


def _word_swap(texts: list[str], rng: random.Random) -> list[str]:
    out = []
    for text in texts:
        words = text.split()
        if len(words) > 1:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        out.append(" ".join(words))
    return out


TENSOR_OPS: dict[str, dict[str, Callable[..., torch.Tensor]]] = {  # (batch, generator=None) -> batch
    "image": {"flip": _flip, "crop": _crop, "jitter": _jitter, "rotate": _rotate},
    "audio": {"noise": _noise, "gain": _gain, "shift": _shift, "mask": _mask},
}
TEXT_OPS: dict[str, Callable[[list[str], random.Random], list[str]]] = {"dropout": _word_dropout, "swap": _word_swap}
OPS = {**{role: list(ops) for role, ops in TENSOR_OPS.items()}, "text": list(TEXT_OPS)}


VIEWS = "@views"  # inputs[column + VIEWS]: a cached column's augmented views, [N, K, D]
CACHED_ROLES = ("image", "text")  # the roles whose transforms can make cached views
DEFAULT_VIEWS = 4


@dataclass
class Augment:
    """The parsed `augment` setting: mixup's alpha (0 = off), each role's transforms in order, and how many
    cached views a frozen column gets."""
    mixup: float = 0.0
    ops: dict[str, list[str]] = field(default_factory=dict)
    views: int = DEFAULT_VIEWS

    def __bool__(self) -> bool:
        return self.mixup > 0 or any(self.ops.values())


def parse_augment(spec: str | dict | None) -> Augment:
    """`"mixup=0.2,image=flip+crop"` (or the same as a dict) -> Augment; every error before any work."""
    if spec is None or spec == "" or spec == "none":
        return Augment()
    items = spec.items() if isinstance(spec, dict) else _pairs(str(spec))
    out = Augment()
    for key, value in items:
        if key == "mixup":
            try:
                alpha = float(value)
            except ValueError:
                raise PolymodalError(f"augment mixup={value!r}: give mixup's alpha as a number, e.g. mixup=0.2"
                                     ) from None
            if not 0 < alpha <= 10:
                raise PolymodalError(f"augment mixup={value}: alpha must be in (0, 10]; 0.1-0.4 is usual")
            out.mixup = alpha
        elif key == "views":
            if not str(value).isdigit() or not 1 <= int(value) <= 16:
                raise PolymodalError(f"augment views={value}: the number of cached views per input, 1 to 16")
            out.views = int(value)
        elif key in OPS:
            names = [n.strip() for n in (value if isinstance(value, list | tuple) else str(value).split("+"))
                     if n.strip()]
            unknown = [n for n in names if n not in OPS[key]]
            if unknown or not names:
                raise PolymodalError(f"augment {key}={'+'.join(names)}: unknown {key} augmentation(s) "
                                     f"{', '.join(map(repr, unknown)) or '(none given)'}; valid: "
                                     f"{'+'.join(OPS[key])}")
            out.ops[key] = names
        else:
            raise PolymodalError(f"augment: unknown key {key!r}; valid: mixup, views, {', '.join(ROLES)} "
                                 "(e.g. mixup=0.2,image=flip+crop)")
    return out


def _pairs(spec: str) -> list[tuple[str, str]]:
    pairs = []
    for item in (i.strip() for i in spec.split(",") if i.strip()):
        if "=" not in item:
            raise PolymodalError(f"augment: {item!r} is not KEY=VALUE (e.g. mixup=0.2,image=flip+crop)")
        key, value = item.split("=", 1)
        pairs.append((key.strip(), value.strip()))
    return pairs


def check_columns(aug: Augment, roles: dict[str, str], trainable: set[str]) -> None:
    """Refuse a role's transforms where they cannot act: no column of that role, or an audio column read by a
    cached encoder (image and text columns get cached views instead)."""
    for role in aug.ops:
        columns = [c for c, r in roles.items() if r == role]
        if not columns:
            raise PolymodalError(f"augment {role}=...: this table has no {role} column")
        cached = [c for c in columns if c not in trainable]
        if cached and role not in CACHED_ROLES:
            raise PolymodalError(
                f"augment {role}=...: the {role} column(s) {', '.join(cached)} are read by frozen pretrained "
                "encoders, whose features are computed once and cached from the waveform, and the audio "
                "transforms act on the log-mel spectrograms that trainable audio encoders read. Use "
                f"mixup=ALPHA (it mixes cached features), or a trainable {role} encoder (--encoders "
                f"{role}=audio-cnn)")


def cached_view_columns(aug: Augment, roles: dict[str, str], trainable: set[str]) -> dict[str, list[str]]:
    """column -> its role's transforms, for the cached columns that get views."""
    return {c: aug.ops[r] for c, r in roles.items() if r in aug.ops and r in CACHED_ROLES and c not in trainable}


def view_transform(role: str, names: list[str], view: int) -> tuple[str, Callable[[Any, list[str]], Any]]:
    """(the view's name, the cache's transform) for view `view` of `role` inputs: each item transformed with a
    generator seeded by its content key and the view, so a file's view is the same in every run."""
    name = f"{role}={'+'.join(names)}#{view}"

    def seed(key: str) -> int:
        return int(hashlib.sha1(f"{key}|{name}".encode()).hexdigest()[:15], 16)

    def transform(batch: Any, keys: list[str]) -> Any:
        if role == "text":
            out = []
            for text, key in zip(batch, keys, strict=True):
                rng = random.Random(seed(key))
                for op in names:
                    text = TEXT_OPS[op]([text], rng)[0]
                out.append(text)
            return out
        pixels = batch.dtype == torch.uint8  # [B, H, W, 3] for encoders that run from pixels
        x = batch.permute(0, 3, 1, 2).float() / 255 if pixels else batch.float()
        rows = []
        for row, key in zip(x, keys, strict=True):
            g = torch.Generator().manual_seed(seed(key))
            row = row[None]
            for op in names:
                row = TENSOR_OPS[role][op](row, g)
            rows.append(row[0])
        out = torch.stack(rows)
        if pixels:
            return (out.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
        return out.to(batch.dtype)

    return name, transform


class BatchAugmenter:
    """Applied to each training batch (training/loop.py): per-role transforms on the trainable columns, then
    mixup. Returns the batch and, with mixup, (lambda, permutation) for the loss."""

    def __init__(self, aug: Augment, roles: dict[str, str], trainable: set[str]):
        self.aug = aug
        self.columns = {c: (r, aug.ops[r]) for c, r in roles.items() if r in aug.ops and c in trainable}
        self.viewed = list(cached_view_columns(aug, roles, trainable))

    def __call__(self, inputs: dict[str, Any], masks: dict[str, torch.Tensor]
                 ) -> tuple[dict[str, Any], dict[str, torch.Tensor], tuple[float, torch.Tensor] | None]:
        inputs = dict(inputs)
        for column in self.viewed:  # each row: its plain features, or one of its cached views
            views = inputs.pop(column + VIEWS, None)
            if views is not None:
                pick = torch.randint(0, views.shape[1] + 1, (len(views),))
                chosen = views[torch.arange(len(views)), (pick - 1).clamp_min(0)]
                inputs[column] = torch.where((pick > 0)[:, None], chosen.to(inputs[column].dtype), inputs[column])
        for column, (role, names) in self.columns.items():
            value = inputs.get(column)
            if role in TENSOR_OPS and isinstance(value, torch.Tensor) and value.is_floating_point():
                for name in names:
                    value = TENSOR_OPS[role][name](value)
                inputs[column] = value
            elif isinstance(value, list):
                rng = random.Random(int(torch.randint(0, 2**31 - 1, ())))  # from torch's per-epoch seed
                for name in names:
                    value = TEXT_OPS[name](value, rng)
                inputs[column] = value
        if self.aug.mixup <= 0 or len(masks) == 0:
            return inputs, masks, None
        n = len(next(iter(masks.values())))
        lam = float(torch.distributions.Beta(self.aug.mixup, self.aug.mixup).sample())
        lam = max(lam, 1 - lam)
        perm = torch.randperm(n)
        for column, value in inputs.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                inputs[column] = lam * value + (1 - lam) * value.index_select(0, perm)
        return inputs, masks, (lam, perm)
