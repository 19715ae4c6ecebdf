"""SMOTE (Chawla, Bowyer, Hall and Kegelmeyer 2002) for rare classes (`imbalance="smote"`,
`--imbalance smote`): synthetic training rows interpolated between a rare-class row and one of its nearest
same-class neighbours, until every class has as many rows as the largest (imbalanced-learn's `SMOTE`).

It runs on each round's training rows only (each cross-validation and bagging fold's own), never on
validation or test rows. It interpolates fixed vectors: every input column must be one (cached features
of a frozen encoder, or a `tabular` group's vector). A row's presence bits are interpolated with its
features and read back as present above one half; an absent cell's features are zeros again.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import PolymodalError
from ..training.data import ArrayData

NEIGHBOURS = 5


def check_inputs(train: ArrayData, columns: list[str]) -> None:
    for c in columns:
        x = train.inputs[c]
        if not (isinstance(x, torch.Tensor) and x.is_floating_point() and x.dim() in (1, 2)):
            raise PolymodalError(f"imbalance='smote' interpolates fixed feature vectors, and column {c!r} is read by a "
                                 "trainable encoder (images, text, sounds or categories as such); give it a frozen "
                                 "pretrained encoder, or use imbalance='weighted', 'focal' or 'sampler'")


def oversample(train: ArrayData, columns: list[str], *, seed: int = 0) -> ArrayData:
    """`train` with SMOTE's synthetic rows appended (unchanged when every class is already as large as the
    largest, or when the smallest class has a single row)."""
    from imblearn.over_sampling import SMOTE

    check_inputs(train, columns)
    y = train.targets.numpy()
    counts = np.bincount(y)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() == present.max() or present.min() < 2:
        return train
    flat = {c: train.inputs[c].dim() == 1 for c in columns}  # a single number per row (a numeric column)
    widths = [1 if flat[c] else train.inputs[c].shape[1] for c in columns]
    x = torch.cat([train.inputs[c].float().reshape(len(y), -1) for c in columns]
                  + [train.masks[c].float()[:, None] for c in columns], 1)
    xr, yr = SMOTE(k_neighbors=min(NEIGHBOURS, int(present.min()) - 1), random_state=seed).fit_resample(
        x.double().numpy(), y)
    new = torch.from_numpy(xr[len(y):]).float()
    if not len(new):
        return train
    starts = np.cumsum([0, *widths])
    masks = {c: new[:, starts[-1] + i] > 0.5 for i, c in enumerate(columns)}
    inputs = {c: new[:, starts[i]:starts[i + 1]].to(train.inputs[c].dtype) * masks[c][:, None]
              for i, c in enumerate(columns)}
    inputs = {c: v[:, 0] if flat[c] else v for c, v in inputs.items()}
    for key, value in train.inputs.items():  # cached augmented views (training/augment.py): plain copies
        if key.endswith("@views"):
            inputs[key] = inputs[key.removesuffix("@views")].float().unsqueeze(1).repeat(1, value.shape[1], 1)
    synthetic = ArrayData(inputs, masks, torch.from_numpy(yr[len(y):]).to(train.targets.dtype))
    return ArrayData.concat([ArrayData({k: train.inputs[k] for k in inputs}, train.masks, train.targets,
                                       train.groups), synthetic])
