"""The k-nearest-neighbours candidate: every cached modality's features standardised (its training mean
and scale), each modality L2-normalised and weighted equally, and a row's label read from its k most
similar training rows (cosine similarity): class votes, or the mean target for regression. k is chosen
on validation. An absent modality contributes nothing to the similarity.

Written in torch rather than taken from scikit-learn's KNeighborsClassifier: the bank and k are plain
tensors, saved with safetensors like any weights, and the same module scores, ensembles and serves.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..encoders.materialize import is_cached
from ..fusion.standardise import fit_standard, register_standard, standardised
from ..tasks import Task
from ..training.data import ArrayData
from ..training.loop import predict_logits
from .fitted import FittedModel
from .fitting import Candidate

NAME = "knn"
K_GRID = (1, 3, 5, 10, 20, 50)
BANK_ROWS = 20_000  # training rows kept as neighbours at most (a seeded sample): memory and query time
SMOOTH = 0.1  # added to every class's votes, so a class no neighbour has is unlikely, not impossible


class NearestNeighbours(FittedModel):
    def __init__(self, columns: list[str], encoders: dict, out_dim: int):
        super().__init__([c for c in columns if is_cached(encoders[c])])
        self.out_dim = out_dim
        dims = [encoders[c].out_dim for c in self.columns]
        register_standard(self, dims)
        self.register_buffer("bank", torch.zeros(0, sum(dims)))
        self.register_buffer("targets", torch.zeros(0))
        self.register_buffer("k", torch.tensor(1))

    def embed(self, inputs: dict, masks: dict) -> torch.Tensor:
        parts = standardised(self, [inputs[c].float() for c in self.columns], [masks[c] for c in self.columns])
        scale = len(parts) ** -0.5  # each modality's share of the cosine similarity is equal
        return torch.cat([F.normalize(p, dim=1) * scale for p in parts], dim=1)

    def fit_bank(self, inputs: dict, masks: dict, targets: torch.Tensor, seed: int) -> None:
        fit_standard(self, [inputs[c].float() for c in self.columns], [masks[c] for c in self.columns])
        bank = self.embed(inputs, masks)
        keep = torch.arange(len(bank))
        if len(bank) > BANK_ROWS:
            keep = torch.randperm(len(bank), generator=torch.Generator().manual_seed(seed))[:BANK_ROWS].sort().values
        self.bank, self.targets = bank[keep], targets[keep].float()

    def forward(self, inputs: dict, masks: dict) -> torch.Tensor:
        sims = self.embed(inputs, masks) @ self.bank.T
        k = min(int(self.k), len(self.bank))
        idx = sims.topk(k, dim=1).indices
        near = self.targets[idx]
        if self.out_dim == 1:  # regression (a classification has two classes or more)
            return near.mean(1, keepdim=True)
        votes = F.one_hot(near.long(), self.out_dim).sum(1).float() + SMOOTH
        return torch.log(votes / votes.sum(1, keepdim=True))


def fit_knn(task: Task, data: dict[str, ArrayData], encoders: dict, columns: list[str], *, seed: int = 0
            ) -> Candidate:
    """The bank of training rows, with the k that scores best on validation."""
    started = time.time()
    model = NearestNeighbours(columns, encoders, task.out_dim)
    train, val = data["train"].only(model.columns), data["val"].only(model.columns)
    model.fit_bank(train.inputs, train.masks, train.targets, seed)
    history, best = [], None
    for k in [k for k in K_GRID if k <= len(model.bank)] or [len(model.bank)]:
        model.k.fill_(k)
        score = task.monitor_value(predict_logits(model, val), val.targets)
        history.append({"epoch": len(history), "k": k, f"val_{task.monitor}": score})
        if best is None or score > best[0]:
            best = (score, k, len(history) - 1)
    model.k.fill_(best[1])
    return Candidate(NAME, "classical", NAME, model.columns, model=model, history=history, best_epoch=best[2],
                     seconds=time.time() - started)

