"""EfficientNet-Lite0's 7x7 grid of 1280-d features, average-pooled to a small grid of tokens,
for decoders that attend over image regions (captioning, "Show, Attend and Tell", Xu et al. 2015).

The feature cache stores one row of numbers per input, so this encoder's `pooled` output is
its token grid flattened (`[B, grid*grid*1280]`, row-major over the grid) and `tokens` is the
same grid as `[B, grid*grid, 1280]`; `token_shape` says how to fold a cached row back. Tokens
are cached as float16 (`cache_dtype`): 4,000 images at 4x4 take 160 MB instead of 320 MB.

Pooling is adaptive average pooling (overlapping bins when the grid does not divide 7),
written as one fixed matrix product so the ONNX export stays a plain MatMul.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import PolymodalError
from .base import EncoderOutput, register_encoder
from .efficientnet import EfficientNetLite0

SOURCE_GRID = 7  # EfficientNet-Lite0 at 224 px: 224 / 32


def pooling_matrix(src: int, dst: int) -> torch.Tensor:
    """[dst*dst, src*src] weights that average a src x src grid into dst x dst bins."""
    basis = torch.eye(src * src).reshape(src * src, 1, src, src)
    return F.adaptive_avg_pool2d(basis, dst).reshape(src * src, dst * dst).T.contiguous()


class EfficientNetLite0Grid(EfficientNetLite0):
    name = "efficientnet-lite0-grid"
    cache_dtype = "float16"

    def __init__(self, *, grid: int = 4, fit: str = "crop", mode: str = "frozen"):
        if not 1 <= int(grid) <= SOURCE_GRID:
            raise PolymodalError(f"efficientnet-lite0-grid: grid must be 1 to {SOURCE_GRID}, got {grid}")
        super().__init__(fit=fit, mode=mode)
        self.grid = int(grid)
        self.register_buffer("pool", pooling_matrix(SOURCE_GRID, self.grid), persistent=False)
        self.token_shape = (self.grid * self.grid, 1280)
        self.out_dim = self.grid * self.grid * 1280

    @property
    def id(self) -> str:
        return f"{super().id}|grid={self.grid}"

    def config(self) -> dict:
        return {"grid": self.grid, "fit": self.fit}

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        grid = self.net.extract_features(x).flatten(2)  # [B, 1280, 49]
        tokens = torch.matmul(self.pool, grid.transpose(1, 2))  # [B, grid*grid, 1280]
        return EncoderOutput(tokens.flatten(1), tokens)


@register_encoder("efficientnet-lite0-grid", roles=("image",), pretrained=True,
                  summary="EfficientNet-Lite0 (ImageNet) region tokens: the 7x7 grid pooled to grid x grid")
def build_efficientnet_lite0_grid(grid: int = 4, fit: str = "crop", mode: str = "frozen") -> EfficientNetLite0Grid:
    return EfficientNetLite0Grid(grid=grid, fit=fit, mode=mode)
