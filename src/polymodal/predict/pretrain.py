"""Cross-modal contrastive pre-training (`Predictor(pretrain=True)`, `fit --pretrain`): the rows' modalities
teach each other before any label is used, so rows without a label help too.

Each column with fixed (cached) features gets a front: the `Denoiser` module of predict/denoise.py (features
standardised, a bottleneck MLP added back, the identity at the start), here trained by another objective. A
throw-away projection head per column maps the front's output into a shared space, and the symmetric InfoNCE
loss (CLIP's; alignment/losses.py) pulls a row's columns together and pushes other rows' apart, over every
pair of columns present in a batch (as in the seed articles' self-supervised cross-modal pre-training). It
trains on this round's training rows and every row without a label (their labels are never read), and stops
when the loss on the validation rows stops falling. Every neural candidate then starts from the fronts and
fine-tunes them with the rest of the model, as it does denoisers (the same slot of `MultimodalModel`, so saving,
loading, serving and ONNX export carry them).

Written here rather than through the Aligner: the aligner's heads are what it serves, while here the heads are
discarded and the fronts, which keep each column's own width, are what the classifier reads.
"""

from __future__ import annotations

import math
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from ..alignment.losses import info_nce
from ..errors import PolymodalError
from ..training.best_state import BestState
from ..training.data import ArrayData
from .denoise import Denoiser, denoised_columns

DIM, TEMPERATURE = 128, 0.1
EPOCHS, PATIENCE, BATCH, LR = 40, 5, 256, 1e-3
MAX_ROWS = 100_000  # rows pre-trained on (training rows first, then unlabeled ones)


def check_pretrain(pretrain: bool, denoise: float) -> None:
    if not isinstance(pretrain, bool):
        raise PolymodalError(f"pretrain must be True or False, got {pretrain!r}")
    if pretrain and denoise:
        raise PolymodalError("pretrain and denoise both train the front of each column with fixed features; "
                             "choose one (--pretrain or --denoise)")


def pretrain_columns(encoders: dict, columns: list[str]) -> list[str]:
    """The columns a front can sit on (fixed features); contrastive pre-training needs two of them."""
    found = denoised_columns(encoders, columns)
    return found if len(found) >= 2 else []


class _Stage(nn.Module):
    def __init__(self, fronts: dict[str, Denoiser]):
        super().__init__()
        self.fronts = nn.ModuleDict(fronts)
        self.heads = nn.ModuleDict({c: nn.Linear(f.mean.numel(), DIM) for c, f in fronts.items()})
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / TEMPERATURE)), requires_grad=False)

    def loss(self, inputs: dict, masks: dict) -> torch.Tensor | None:
        z = {c: F.normalize(self.heads[c](self.fronts[c].standardise(self.fronts[c](inputs[c].float()))), dim=1)
             for c in self.fronts}
        terms = []
        for a, b in combinations(sorted(self.fronts), 2):
            both = masks[a] & masks[b]
            if int(both.sum()) >= 2:
                rows = torch.nonzero(both).flatten()
                terms.append(info_nce(z[a][rows], z[b][rows], rows, self.logit_scale))
        return torch.stack(terms).mean() if terms else None


def pretrain_fronts(train: ArrayData, val: ArrayData, unlabeled: ArrayData | None, columns: list[str], *,
                    seed: int = 0) -> tuple[dict[str, Denoiser], dict]:
    """A front per column of `columns`, pre-trained on `train` + `unlabeled`, early-stopped on `val`; and what
    happened (rows, epochs, validation loss before and after). No fronts (and why, under "skipped") when fewer
    than two columns have values in 2 rows, or no two columns are present together in 2 rows."""
    parts = [train.only(columns)] + ([unlabeled.only(columns)] if unlabeled is not None and len(unlabeled) else [])
    rows = _capped(_pool(parts), seed)
    val = _capped(val.only(columns), seed) if len(val) else rows
    columns = [c for c in columns if int(rows.masks[c].sum()) >= 2]  # a column almost never present: left out
    together = sum(int((rows.masks[a] & rows.masks[b]).sum()) for a, b in combinations(columns, 2))
    if len(columns) < 2 or together < 2:
        return {}, {"skipped": "fewer than two columns with values in the same rows: nothing to bring together"}
    fronts = {}
    for column in columns:
        x = rows.inputs[column].float()[rows.masks[column]]
        front = Denoiser(x.shape[1])
        front.mean.copy_(x.mean(0))
        front.std.copy_(x.std(0).clamp_min(1e-6))
        fronts[column] = front
    torch.manual_seed(seed)
    stage = _Stage(fronts)
    start = _held_out(stage, val)
    epochs = _fit(stage, rows, val, seed)
    info = {"columns": list(columns), "rows": len(train), "unlabeled_rows": len(parts[1]) if len(parts) > 1 else 0,
            "epochs": epochs, "val_loss_start": round(start, 4), "val_loss_end": round(_held_out(stage, val), 4)}
    return {c: f.eval() for c, f in stage.fronts.items()}, info


def _capped(data: ArrayData, seed: int) -> ArrayData:
    """At most `MAX_ROWS` rows of `data`, a seeded sample in their order."""
    if len(data) <= MAX_ROWS:
        return data
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:MAX_ROWS].sort().values
    return ArrayData({c: v[pick] for c, v in data.inputs.items()}, {c: m[pick] for c, m in data.masks.items()}, None)


def _pool(parts: list[ArrayData]) -> ArrayData:
    """The rows of `parts` in order, without targets (rows without a label have none; none is read here)."""
    from ..training.data import cat

    if len(parts) == 1:
        return parts[0]
    return ArrayData(cat([p.inputs for p in parts]), cat([p.masks for p in parts]), None)


def _held_out(stage: _Stage, val: ArrayData) -> float:
    stage.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for idx in torch.arange(len(val)).split(BATCH):
            loss = stage.loss({c: val.inputs[c][idx] for c in stage.fronts},
                              {c: val.masks[c][idx] for c in stage.fronts})
            if loss is not None:
                total, n = total + float(loss) * len(idx), n + len(idx)
    return total / n if n else math.inf


def _fit(stage: _Stage, rows: ArrayData, val: ArrayData, seed: int) -> int:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW([p for p in stage.parameters() if p.requires_grad], lr=LR, weight_decay=1e-4)
    best, ran = BestState(stage, patience=PATIENCE, tolerance=1e-4, best=_held_out(stage, val)), 0
    for epoch in range(1, EPOCHS + 1):
        ran = epoch
        stage.train()
        for idx in torch.randperm(len(rows), generator=g).split(BATCH):
            loss = stage.loss({c: rows.inputs[c][idx] for c in stage.fronts},
                              {c: rows.masks[c][idx] for c in stage.fronts})
            if loss is None:
                continue
            opt.zero_grad()
            loss.backward()
            opt.step()
        if best.stop(_held_out(stage, val)):
            break
    best.restore()
    return ran
