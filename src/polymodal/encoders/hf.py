"""Any local Hugging Face model folder as an encoder: `build_encoder("hf:/path/to/folder")`.

Text models (a tokenizer in the folder) are mean-pooled over the attention mask, as
sentence-transformers does; vision models take `pixel_values` preprocessed as the
folder's `preprocessor_config.json` says and give `pooler_output`, else the mean of
`last_hidden_state`. Nothing is ever downloaded: loading is `local_files_only`.

The encoder id hashes the folder's config and weight files, so the feature cache
never serves features of a model that was replaced in the same folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.image import IMAGENET_MEAN, IMAGENET_STD, ImageLoader
from ..data.text import TextLoader
from ..errors import PolymodalError
from .base import Encoder, EncoderOutput, register_encoder

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model",
                   "vocab.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")
_TOKENIZER_LOCK = threading.Lock()


def load_transformers():
    """Import transformers offline and quiet (no hub calls, no download bars)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers as tf
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    return tf


def model_folder(path: str | Path) -> Path:
    """`path` if it is a Hugging Face model folder, else a PolymodalError saying what is wrong."""
    folder = Path(path).expanduser()
    if not str(path):
        raise PolymodalError("hf: needs a folder, as in hf:/path/to/model")
    if not folder.exists():
        raise PolymodalError(f"hf:{path}: no such folder (models are never downloaded; save one with "
                             "save_pretrained and give its path)")
    if not folder.is_dir():
        raise PolymodalError(f"hf:{path}: is a file; give the folder that holds config.json and the weights")
    if not (folder / "config.json").is_file():
        raise PolymodalError(f"hf:{path}: not a Hugging Face model folder (no config.json in it)")
    return folder.resolve()


@lru_cache(maxsize=32)
def _folder_digest(folder: str, stamp: tuple) -> str:
    h = hashlib.sha1()
    for name, _, _ in stamp:
        h.update(name.encode() + b"\0")
        with open(Path(folder) / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def folder_digest(folder: Path) -> str:
    """Content hash of config, preprocessing, tokenizer and weight files (memoised on size + mtime)."""
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and (
        p.suffix in WEIGHT_SUFFIXES or p.suffix == ".json" or p.name in TOKENIZER_FILES))
    stamp = tuple((n, (folder / n).stat().st_size, (folder / n).stat().st_mtime_ns) for n in names)
    return _folder_digest(str(folder), stamp)


def load_model(folder: Path) -> tuple[nn.Module, set[str]]:
    """The model, and the names of weights the folder lacks (AutoModel initialises those at random)."""
    tf = load_transformers()
    try:
        model, info = tf.AutoModel.from_pretrained(str(folder), local_files_only=True, output_loading_info=True)
    except Exception as exc:  # the library's message, with the folder named
        raise PolymodalError(f"hf:{folder}: could not load the model: {exc}") from exc
    missing = set(info.get("missing_keys") or ())
    unused = sorted(k for k in missing if not k.startswith("pooler."))  # a pooler we can do without
    if unused:
        warnings.warn(f"hf:{folder}: {len(unused)} weight(s) missing from the folder are random "
                      f"(e.g. {unused[0]}); features will not be those of the saved model", stacklevel=3)
    return model.eval(), missing


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors where `mask` is 1 (sentence-transformers' mean pooling)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9)


def _length_limit(tokenizer: Any, config: Any) -> int:
    """Longest input the model takes: the tokenizer's limit, else the position table's size."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    return int(getattr(config, "max_position_embeddings", 0) or 512)


def _freeze_unused_pooler(model: nn.Module) -> None:
    """A pooler that the encoder does not use stays out of training (fine-tuning would list it as trainable,
    yet no gradient reaches it)."""
    pooler = getattr(model, "pooler", None)
    if isinstance(pooler, nn.Module):
        pooler.requires_grad_(False)


class FrozenBelowLast:
    """Mixin: in mode "last", the frozen part stays in eval mode while the last blocks train
    (fixed batch-norm statistics, no dropout noise in layers that do not learn)."""

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.mode == "last":
            super().train(False)
            self.last_blocks().train(True)
        return self


class HFTextEncoder(FrozenBelowLast, Encoder):
    """A local Hugging Face text model; pooled = mean over real tokens, optionally L2-normalised."""

    name = "hf"
    roles = ("text",)
    pretrained = True

    def __init__(self, path: str | Path, *, max_length: int = 128, normalize: bool = False, mode: str = "frozen"):
        super().__init__()
        self.folder = model_folder(path)
        self.max_length, self.normalize = int(max_length), bool(normalize)
        try:
            self.tokenizer = load_transformers().AutoTokenizer.from_pretrained(str(self.folder), local_files_only=True)
        except Exception as exc:
            raise PolymodalError(f"hf:{self.folder}: could not load the tokenizer: {exc}") from exc
        self.model, _ = load_model(self.folder)
        self.max_length = min(self.max_length, _length_limit(self.tokenizer, self.model.config))
        self.out_dim = int(self.model.config.hidden_size)
        self.set_mode(mode).train()  # frozen -> eval now, not only after the next .train()

    @property
    def id(self) -> str:
        return f"{self.name}:{folder_digest(self.folder)}@{self.version}|{self.loader().id}|len={self.max_length}" \
               f"|norm={self.normalize}"

    def loader(self) -> TextLoader:
        return TextLoader()

    def config(self) -> dict:
        return {"path": str(self.folder), "max_length": self.max_length, "normalize": self.normalize}

    def last_blocks(self) -> nn.Module:
        layers = _find_layers(self.model)
        return layers[-1] if layers is not None else self.model

    def set_mode(self, mode: str) -> HFTextEncoder:
        super().set_mode(mode)
        _freeze_unused_pooler(self.model)  # pooled is the token mean: a pooler head would get no gradient
        return self

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Strings -> `input_ids`, `attention_mask` int64 [B, T] (the inputs of `encode_tokens`)."""
        with _TOKENIZER_LOCK:  # a fast tokenizer called from two threads at once can fail ("Already borrowed")
            batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                                   return_tensors="pt")
        device = next(self.parameters()).device
        return {k: batch[k].to(device=device, dtype=torch.long) for k in ("input_ids", "attention_mask")}

    def encode_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> EncoderOutput:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        if self.normalize:
            pooled = nn.functional.normalize(pooled, dim=-1)
        return EncoderOutput(pooled, hidden)

    def forward(self, texts: Sequence[str]) -> EncoderOutput:
        return self.encode_tokens(**self.tokenize(texts))

    # ONNX Runtime path (see onnx_runtime.py): tokenise in Python, run the transformer + pooling as a graph.
    def onnx_inputs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.tokenize(texts)

    def onnx_graph(self) -> nn.Module:
        return _PooledTokens(self)


class _PooledTokens(nn.Module):
    def __init__(self, encoder: HFTextEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode_tokens(input_ids, attention_mask).pooled


def image_preprocessing(folder: Path, config: Any) -> ImageLoader:
    """ImageLoader matching `preprocessor_config.json` (size, crop, mean, std); ImageNet stats if absent."""
    pre: dict = {}
    if (folder / "preprocessor_config.json").is_file():
        pre = json.loads((folder / "preprocessor_config.json").read_text())
    size, fit = _side(pre.get("size")), "stretch"
    if pre.get("do_center_crop") and pre.get("crop_size"):
        size, fit = _side(pre["crop_size"]), "crop"
    image_size = getattr(config, "image_size", None)
    size = size or (image_size[0] if isinstance(image_size, (list, tuple)) else image_size) or 224
    mean = tuple(float(v) for v in pre.get("image_mean") or IMAGENET_MEAN)
    std = tuple(float(v) for v in pre.get("image_std") or IMAGENET_STD)
    return ImageLoader(size=int(size), fit=fit, mean=mean, std=std)


def _side(size: Any) -> int | None:
    if isinstance(size, dict):
        return size.get("height") or size.get("shortest_edge") or size.get("width")
    return size if isinstance(size, int) else None


class HFImageEncoder(FrozenBelowLast, Encoder):
    """A local Hugging Face vision model fed `pixel_values`; pooled = pooler_output or token mean."""

    name = "hf"
    roles = ("image",)
    pretrained = True

    def __init__(self, path: str | Path, *, mode: str = "frozen"):
        super().__init__()
        self.folder = model_folder(path)
        self.model, missing = load_model(self.folder)
        # a pooler that the folder did not save would be random: average the tokens instead
        self.use_pooler = not any(k.startswith("pooler.") for k in missing)
        self._loader = image_preprocessing(self.folder, self.model.config)
        sizes = getattr(self.model.config, "hidden_sizes", None)
        self.out_dim = int(getattr(self.model.config, "hidden_size", 0) or (sizes[-1] if sizes else 0))
        self.set_mode(mode).train()

    def set_mode(self, mode: str) -> HFImageEncoder:
        super().set_mode(mode)
        if not self.use_pooler:  # the tokens are averaged instead
            _freeze_unused_pooler(self.model)
        return self

    @property
    def id(self) -> str:
        return f"{self.name}:{folder_digest(self.folder)}@{self.version}|{self.loader().id}"

    def loader(self) -> ImageLoader:
        return self._loader

    def config(self) -> dict:
        return {"path": str(self.folder)}

    def last_blocks(self) -> nn.Module:
        layers = _find_layers(self.model)
        return layers[-1] if layers is not None else self.model

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        out = self.model(pixel_values=x)
        hidden = out.last_hidden_state
        tokens = hidden.flatten(2).transpose(1, 2) if hidden.dim() == 4 else hidden  # conv maps -> [B, HW, C]
        pooled = getattr(out, "pooler_output", None) if self.use_pooler else None
        pooled = tokens.mean(1) if pooled is None else pooled.flatten(1)
        return EncoderOutput(pooled, tokens if tokens.shape[-1] == pooled.shape[-1] else None)


def _find_layers(model: nn.Module) -> nn.ModuleList | None:
    """The main stack of transformer blocks (`encoder.layer`, `layers`, ...), the longest ModuleList."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    return max(lists, key=len) if lists else None


def is_text_folder(folder: Path) -> bool:
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


@register_encoder("hf", roles=("text", "image"), pretrained=True,
                  summary="any local Hugging Face text or vision model folder: hf:/path/to/folder")
def build_hf(path: str = "", role: str | None = None, max_length: int = 128, normalize: bool = False,
             mode: str = "frozen") -> Encoder:
    """A text encoder when the folder has a tokenizer, else a vision encoder (or force one with `role`)."""
    folder = model_folder(path)
    if role is None:
        role = "text" if is_text_folder(folder) else "image"
    if role == "text":
        return HFTextEncoder(folder, max_length=max_length, normalize=normalize, mode=mode)
    if role == "image":
        return HFImageEncoder(folder, mode=mode)
    raise PolymodalError(f"hf:{path}: role must be 'text' or 'image', not {role!r}")
