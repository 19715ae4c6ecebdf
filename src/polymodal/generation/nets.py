"""Convolutional building blocks shared by the generators: a DCGAN-style up-sampling decoder
and a mirrored down-sampling encoder, for pictures `[C, H, W]` (images, spectrograms) and
clips `[C, T, H, W]` (3D convolutions).

DCGAN (Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks"): the decoder projects its input vector to a small grid,
then each block doubles the resolution with a stride-2 transposed convolution, batch norm
and ReLU, halving the channels, and a final convolution with tanh gives values in [-1, 1].
The encoder mirrors it with stride-2 convolutions and leaky ReLUs; as a discriminator it
uses spectral normalisation (Miyato et al. 2018) instead of batch norm.

Every block doubles height and width; time (for clips) doubles in the first blocks until
it reaches its length, so the smallest grid is 4 pixels on the short side and 1 frame (more
when a clip has more frames than there are blocks).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import PolymodalError

MAX_CHANNELS = 512


def plan(shape: tuple[int, ...]) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """The smallest grid and the stride of each up-sampling block, for an output `shape` (C, ...)."""
    spatial = shape[1:]
    if len(spatial) not in (2, 3):
        raise PolymodalError(f"generators make [C, H, W] or [C, T, H, W] tensors, not {shape}")
    h, w = spatial[-2:]
    if any(side < 8 or side & (side - 1) for side in (h, w)):
        raise PolymodalError(f"output {h}x{w}: sides must be powers of two of at least 8")
    steps = int(math.log2(min(h, w) // 4))
    base = [h >> steps, w >> steps]
    time_steps = 0
    if len(spatial) == 3:
        t = spatial[0]
        if t < 1 or t & (t - 1):
            raise PolymodalError(f"clips of {t} frames: the number of frames must be a power of two")
        time_steps = min(int(math.log2(t)), steps)  # long clips at small sizes start from several frames
        base = [t >> time_steps, *base]
    strides = [((2,) if len(spatial) == 3 and i < time_steps else (1,) if len(spatial) == 3 else ()) + (2, 2)
               for i in range(steps)]
    return tuple(base), strides


def channels(width: int, steps: int) -> list[int]:
    """Channels from the smallest grid to the output resolution: width * 2^steps ... width."""
    return [min(MAX_CHANNELS, width * 2 ** (steps - i)) for i in range(steps + 1)]


def _up(c_in: int, c_out: int, stride: tuple[int, ...]) -> nn.Module:
    if len(stride) == 2:
        return nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
    kernel = tuple(4 if s == 2 else 3 for s in stride)
    return nn.ConvTranspose3d(c_in, c_out, kernel, stride, 1, bias=False)


def _down(c_in: int, c_out: int, stride: tuple[int, ...], bias: bool = True) -> nn.Module:
    if len(stride) == 2:
        return nn.Conv2d(c_in, c_out, 4, 2, 1, bias=bias)
    kernel = tuple(4 if s == 2 else 3 for s in stride)
    return nn.Conv3d(c_in, c_out, kernel, stride, 1, bias=bias)


def _norm(c: int, dims: int) -> nn.Module:
    return nn.BatchNorm2d(c) if dims == 2 else nn.BatchNorm3d(c)


class ConditionalNorm(nn.Module):
    """Batch norm whose scale and shift are predicted from the condition vector (conditional batch
    norm: de Vries et al. 2017; Dumoulin et al. 2017; used with class vectors in BigGAN, Brock et al.
    2019, and with sentence vectors in DF-GAN's deep fusion, Tao et al. 2022): the prompt reaches
    every block of the decoder, not only its input."""

    def __init__(self, channels: int, dims: int, cond_dim: int):
        super().__init__()
        self.norm = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels, affine=False)
        self.affine = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)  # starts as plain batch norm with scale 1 and shift 0
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.affine(c).view(len(c), -1, *[1] * (x.dim() - 2)).chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


class UpDecoder(nn.Module):
    """Vector `[B, in_dim]` (and a condition `[B, cond_dim]`, when `cond_dim` > 0) -> output `[B, *shape]`
    in [-1, 1]. With a condition every batch norm is a `ConditionalNorm`."""

    def __init__(self, in_dim: int, shape: tuple[int, ...], width: int = 32, cond_dim: int = 0):
        super().__init__()
        self.shape = tuple(shape)
        self.base, strides = plan(self.shape)
        chans = channels(width, len(strides))
        dims = len(self.base)
        self.project = nn.Linear(in_dim, chans[0] * math.prod(self.base), bias=False)
        self.norms = nn.ModuleList([ConditionalNorm(c, dims, cond_dim) if cond_dim else _norm(c, dims)
                                    for c in chans])
        self.ups = nn.ModuleList([_up(a, b, s) for a, b, s in zip(chans[:-1], chans[1:], strides, strict=True)])
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.out = conv(chans[-1], self.shape[0], 3, padding=1)
        self.chans = chans

    def _norm(self, i: int, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = self.norms[i](x, c) if isinstance(self.norms[i], ConditionalNorm) else self.norms[i](x)
        return torch.relu(x)

    def forward(self, h: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = self._norm(0, self.project(h).view(len(h), self.chans[0], *self.base), c)
        for i, up in enumerate(self.ups, start=1):
            x = self._norm(i, up(x), c)
        return torch.tanh(self.out(x))


class DownEncoder(nn.Module):
    """Input `[B, *shape]` -> feature grid `[B, C, *base]` (the mirror of `UpDecoder`).

    spectral=True: spectral norm on every convolution and no batch norm (a discriminator);
    otherwise batch norm after every convolution but the first (a VAE encoder)."""

    def __init__(self, shape: tuple[int, ...], width: int = 32, *, spectral: bool = False):
        super().__init__()
        self.shape = tuple(shape)
        self.base, strides = plan(self.shape)
        chans = channels(width, len(strides))[::-1]  # width ... widest
        dims = len(self.base)
        layers: list[nn.Module] = []
        for i, (c_in, c_out, stride) in enumerate(zip([self.shape[0], *chans[:-2]], chans[:-1], strides[::-1],
                                                      strict=True)):
            conv = _down(c_in, c_out, stride, bias=spectral or i == 0)
            layers.append(spectral_norm(conv) if spectral else conv)
            if not spectral and i > 0:
                layers.append(_norm(c_out, dims))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.layers = nn.Sequential(*layers)
        self.out_channels = chans[-2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
