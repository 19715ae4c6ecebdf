"""Where in an image a prediction came from: a map over the pixels of each image column (Captum).

For one row and one image column, the model's value is the probability of the class it predicts for that row (the
predicted value, for regression) as a function of the image alone, every other modality held at the row's own
inputs. Two attributions, by what the encoder allows:

- a **trainable** encoder in a neural model (the model reads pixels): integrated gradients (Sundararajan et al.
  2017, Captum's `IntegratedGradients`) from a black image in the encoder's normalised input space (its mean
  colour), 32 steps;
  the attributions of the pixels add up to the value's change from that baseline (Captum reports the gap);
- a **frozen** encoder (the model reads cached features), or a model without gradients (an ensemble, trees,
  neighbours): occlusion (Zeiler and Fergus 2014, Captum's `Occlusion`)
  through the encoder itself: a square a quarter of the image's side, slid by an eighth, set to the baseline; a
  pixel's score is the mean drop of the value over the squares that cover it. 49 forward passes of the encoder a
  row (EfficientNet-Lite0 at 224 px: a few seconds a row on two cores).

A map is summed over colour channels: positive where the pixels raise the value, negative where they lower it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..encoders.materialize import cell_values
from ..errors import PolymodalError
from ..tasks import Classification
from ..training.data import take
from ..training.loop import predict_logits

STEPS = 32  # integrated gradients' path steps
GRID = 8  # occlusion: windows a quarter of the side, stride an eighth -> 7 x 7 positions


def attribute(value, image: torch.Tensor, *, method: str) -> np.ndarray:
    """`[H, W]` map of scalar function `value` (images `[B, 3, H, W]` -> `[B]`) at `image` `[3, H, W]`."""
    from captum.attr import IntegratedGradients, Occlusion

    x = image.unsqueeze(0).float()
    if method == "integrated-gradients":
        maps = IntegratedGradients(value).attribute(x, baselines=torch.zeros_like(x), n_steps=STEPS,
                                                    internal_batch_size=STEPS)
    elif method == "occlusion":
        side = min(x.shape[-2:])
        window, stride = max(1, side // (GRID // 2)), max(1, side // GRID)
        maps = Occlusion(value).attribute(x, sliding_window_shapes=(x.shape[1], window, window),
                                          strides=(x.shape[1], stride, stride), baselines=0.0,
                                          perturbations_per_eval=8)
    else:
        raise PolymodalError(f"unknown attribution method {method!r}; valid: integrated-gradients, occlusion")
    return maps.detach()[0].sum(0).numpy()


def image_maps(p, data, *, rows: int = 8, columns: list[str] | None = None) -> list[dict]:
    """Per row (the first `rows`) and image column (`columns`, default every image column the model reads): the
    map, the method, the predicted class and the cell's file. See the module."""
    from .model import MultimodalModel

    images = [c for c in p.model_.modalities if p.schema_.modalities.get(c) == "image"]
    wanted = images if columns is None else list(columns)
    unknown = [c for c in wanted if c not in images]
    if unknown or not wanted:
        raise PolymodalError(f"no image column {', '.join(map(repr, unknown))} in this model; its image columns: "
                             f"{', '.join(images) or 'none'}")
    table, arrays = p._inputs(data)
    n = min(int(rows), len(arrays))
    arrays = arrays.subset(torch.arange(n))
    model = p.model_.eval()
    logits = predict_logits(model, arrays)
    classify = isinstance(p.task_, Classification)
    target = logits.argmax(1) if classify else None
    out = []
    for column in wanted:
        encoder = p.encoders_[column]
        pixels = isinstance(arrays.inputs[column], torch.Tensor) and arrays.inputs[column].dim() == 4
        method = "integrated-gradients" if pixels and isinstance(model, MultimodalModel) else "occlusion"
        files, paths = table.df[column].tolist(), cell_values(table, column, "image")  # as given, and resolved
        for i in range(n):
            if not bool(arrays.masks[column][i]):
                continue  # no image in this row
            image = arrays.inputs[column][i] if pixels else encoder.loader()(paths[i])
            value = _value_of(model, arrays, i, column, None if pixels else encoder, target)
            label = p.task_.classes[int(target[i])] if classify else float(p.task_.predict(logits[i:i + 1]).iloc[0, 0])
            out.append({"row": i, "column": column, "file": str(files[i]), "predicted": label, "method": method,
                        "map": attribute(value, image, method=method), "image": image})
    return out


def _value_of(model, arrays, i: int, column: str, encoder, target):
    """The value of row `i` as a function of a batch of images in `column` (the rest of the row held)."""
    idx = torch.tensor([i])
    inputs, masks = take(arrays.inputs, idx), take(arrays.masks, idx)

    def value(images: torch.Tensor) -> torch.Tensor:
        b = len(images)
        batch = {k: v.expand(b, *v.shape[1:]) if isinstance(v, torch.Tensor) else v * b for k, v in inputs.items()}
        if encoder is None:
            batch[column] = images
        else:  # the cached features are the frozen encoder's pooled output
            with torch.no_grad():
                batch[column] = encoder(images).pooled.reshape(b, -1).to(arrays.inputs[column].dtype)
        out = model(batch, {k: m.expand(b) for k, m in masks.items()})
        if target is None:
            return out.float().squeeze(-1)
        return torch.softmax(out.float(), 1)[:, int(target[i])]

    return value


def overlay(item: dict, path: Path) -> Path:
    """The row's image with its map over it (red: raises the value, blue: lowers it), and the map alone."""
    from matplotlib.figure import Figure

    image = item["image"].float()
    shown = (image - image.amin()) / (image.amax() - image.amin()).clamp_min(1e-8)  # any normalisation -> [0, 1]
    heat = item["map"]
    limit = float(np.abs(heat).max()) or 1.0
    fig = Figure(figsize=(5.0, 2.6), layout="tight")
    left, right = fig.subplots(1, 2)
    left.imshow(shown.permute(1, 2, 0).numpy())
    left.imshow(heat, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.45)
    right.imshow(heat, cmap="bwr", vmin=-limit, vmax=limit)
    for ax, title in ((left, f"row {item['row']}: {item['predicted']}"), (right, item["method"])):
        ax.set(title=title, xticks=[], yticks=[])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
