"""The gradient-boosted trees candidate: LightGBM on every column a classical model can read
(predict/design.py). Numbers and categories go in natively (categories as LightGBM categorical
features); a cached encoder's features are first reduced to their leading principal components on the
training rows, because trees split one coordinate at a time and a 1,280-wide embedding spreads its
signal over all of them (and costs LightGBM minutes on two cores where 32 components cost seconds).

An absent cell is NaN, which LightGBM routes down its learned missing-value branch, so a missing
modality needs no imputation. Boosting stops early on the validation rows. The booster is kept as
LightGBM's own text format, as bytes in a buffer, so it is saved with the other weights in safetensors
and never pickled.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..encoders.base import Encoder
from ..errors import PolymodalError
from ..fusion.standardise import pooled
from ..tasks import Classification, Task
from ..training.data import ArrayData
from .design import column_kinds, raw_values
from .fitted import FittedModel
from .fitting import Candidate
from .tree_tensors import TreeTensors

NAME = "lightgbm"
COMPONENTS = 32  # principal components kept per embedding column
ROUNDS, PATIENCE = 1000, 50  # boosting rounds at most; stop after PATIENCE without a better validation loss
# LightGBM's default rate: at 0.05 the demo's digits fit still improved at 2,000 rounds (23 s of its minutes)
RATE = 0.1
THREADED_ROWS = 20_000


class BoostedTrees(FittedModel):
    def __init__(self, columns: list[str], encoders: dict[str, Encoder], out_dim: int):
        kinds = column_kinds(encoders, columns)
        super().__init__([c for c in columns if c in kinds])
        self.kinds = {c: kinds[c] for c in self.columns}
        self.vocab = {c: getattr(encoders[c], "vocabulary", None) for c in self.columns}
        # a tabular group's encoder turns its input back into one feature per member column (a plain dict, so
        # the encoder is not a submodule of the trees: it has nothing to save here)
        self.groups = {c: encoders[c] for c in self.columns if self.kinds[c] == "tabular"}
        self.out_dim = out_dim
        for i, c in enumerate(self.columns):  # positional names: a column name may hold "."
            if self.kinds[c] == "features":
                dim = encoders[c].out_dim
                self.register_buffer(f"center{i}", torch.zeros(dim))
                self.register_buffer(f"basis{i}", torch.zeros(min(COMPONENTS, dim), dim))
        self.register_buffer("booster", torch.zeros(0, dtype=torch.uint8))
        self._booster = self._tensors = None

    def loaded(self) -> None:
        self._booster = self._tensors = None

    def unexportable(self) -> list[str]:
        """Why each column the trees read cannot be a tensor input of an ONNX graph (none: exportable)."""
        return [f"column {c!r}: LightGBM reads its {k} values, which are decoded in Python; only cached features "
                "go into the graph" for c, k in self.kinds.items() if k != "features"]

    def tensor_matrix(self, inputs: dict, masks: dict) -> torch.Tensor:
        """`matrix` in torch (cached features only, see `unexportable`): what a traced graph computes."""
        parts = []
        for i, c in enumerate(self.columns):
            x = (pooled(inputs[c]).float() - getattr(self, f"center{i}")) @ self.basis(i).T
            parts.append(torch.where(masks[c].bool().unsqueeze(1), x, torch.full_like(x, float("nan"))))
        return torch.cat(parts, dim=1)

    @property
    def categorical(self) -> list[int]:
        """Indices of the matrix's categorical features (one per categorical column)."""
        widths = [self.basis(i).shape[0] if self.kinds[c] == "features" else
                  len(self.groups[c].numeric) + len(self.groups[c].categories) if self.kinds[c] == "tabular" else 1
                  for i, c in enumerate(self.columns)]
        starts = np.cumsum([0, *widths])
        out = [int(starts[i]) for i, c in enumerate(self.columns) if self.kinds[c] == "categorical"]
        for i, c in enumerate(self.columns):
            if self.kinds[c] == "tabular":
                out += [int(starts[i]) + j for j in self.groups[c].tree_categorical()]
        return sorted(out)

    def basis(self, i: int) -> torch.Tensor:
        return getattr(self, f"basis{i}")

    def fit_projection(self, inputs: dict, masks: dict) -> None:
        """Principal axes of each embedding column on the training rows where it is present."""
        for i, c in enumerate(self.columns):
            if self.kinds[c] != "features":
                continue
            x = pooled(inputs[c])[masks[c].bool()].double()
            if len(x) < 2:
                continue
            center = x.mean(0)
            _, _, vt = torch.linalg.svd(x - center, full_matrices=False)
            k = min(self.basis(i).shape[0], vt.shape[0])
            self.basis(i).zero_()
            self.basis(i)[:k] = vt[:k].float()
            getattr(self, f"center{i}").copy_(center.float())

    def matrix(self, inputs: dict, masks: dict) -> np.ndarray:
        """`[B, features]` float64, NaN where a cell is absent."""
        parts = []
        for i, c in enumerate(self.columns):
            if self.kinds[c] == "tabular":
                x, _ = self.groups[c].tree_matrix(inputs[c])
                x[~masks[c].bool().numpy()] = np.nan
                parts.append(x)
                continue
            if self.kinds[c] != "features":
                parts.append(raw_values(self.kinds[c], inputs[c], masks[c], self.vocab[c]))
                continue
            x = ((pooled(inputs[c]).float() - getattr(self, f"center{i}")) @ self.basis(i).T).double().numpy()
            x[~masks[c].bool().numpy()] = np.nan
            parts.append(x)
        return np.concatenate(parts, axis=1)

    def set_booster(self, booster) -> None:
        text = booster.model_to_string(num_iteration=booster.best_iteration or None)
        self.booster = torch.frombuffer(bytearray(text.encode()), dtype=torch.uint8).clone()
        self._booster = self._tensors = None

    def lightgbm(self):
        if self._booster is None:
            if not len(self.booster):
                raise PolymodalError("the gradient-boosted trees candidate has not been fitted")
            import lightgbm

            self._booster = lightgbm.Booster(model_str=bytes(self.booster.numpy()).decode())
        return self._booster

    def forward(self, inputs: dict, masks: dict) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():  # traced into a graph: the trees as tensor operations (tree_tensors.py)
            if getattr(self, "_tensors", None) is None:
                self._tensors = TreeTensors(self.lightgbm().dump_model())
            return self._tensors(self.tensor_matrix(inputs, masks))
        self.lightgbm()
        x = self.matrix(inputs, masks)
        if not len(x):
            return torch.zeros(0, self.out_dim)
        raw = np.asarray(self._booster.predict(x, raw_score=True), dtype=np.float32)
        return torch.from_numpy(raw.reshape(len(x), -1))  # multiclass raw scores are logits; regression [B, 1]


def fit_trees(task: Task, data: dict[str, ArrayData], encoders: dict, columns: list[str], *, seed: int = 0
              ) -> Candidate:
    """LightGBM on the training rows, early-stopped on validation."""
    import lightgbm

    started = time.time()
    model = BoostedTrees(columns, encoders, task.out_dim)
    train, val = data["train"].only(model.columns), data["val"].only(model.columns)
    model.fit_projection(train.inputs, train.masks)
    x_train, x_val = model.matrix(train.inputs, train.masks), model.matrix(val.inputs, val.masks)
    y_train, y_val = train.targets.numpy(), val.targets.numpy()
    params = _params(task, len(x_train), seed)
    build = {"categorical_feature": model.categorical or "auto", "params": {"max_bin": 63, "verbose": -1}}
    dtrain = lightgbm.Dataset(x_train, y_train, weight=_weights(task, y_train), **build)
    dval = lightgbm.Dataset(x_val, y_val, reference=dtrain, **build)
    record: dict = {}
    booster = lightgbm.train(params, dtrain, num_boost_round=ROUNDS, valid_sets=[dval], valid_names=["val"],
                             callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False),
                                        lightgbm.record_evaluation(record)])
    model.set_booster(booster)
    metric = params["metric"]
    history = [{"epoch": i, f"val_{metric}": float(v)} for i, v in enumerate(record["val"][metric])]
    return Candidate(NAME, "classical", NAME, model.columns, model=model, history=history,
                     best_epoch=max(booster.best_iteration - 1, 0), seconds=time.time() - started)


def _params(task: Task, rows: int, seed: int) -> dict:
    # Small tables are our users' common case: shallow trees and leaves of a few rows.
    leaf = int(np.clip(rows // 100, 3, 20))
    # LightGBM's category defaults (100 rows per category group, smoothing 10) assume large tables: below
    # them a category is never split on
    common = {"learning_rate": RATE, "num_leaves": 15, "min_data_in_leaf": leaf, "min_data_per_group": leaf,
              "cat_smooth": 1.0, "cat_l2": 1.0,
              # features sampled per node, not per tree: with few columns a per-tree sample can leave out one
              # side of an interaction for a whole tree
              "feature_fraction_bynode": 0.7, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
              "seed": seed, "deterministic": True, "force_row_wise": True, "verbose": -1,
              # one thread below THREADED_ROWS: each round's work is tiny there, and OpenMP's spinning threads
              # cost more than they share (a 160-row fit at load 7: 0.7 s on one thread, 2.6 to 10.9 s on two)
              "num_threads": 1 if rows < THREADED_ROWS else 0}
    if isinstance(task, Classification):
        return {**common, "objective": "multiclass", "num_class": task.out_dim, "metric": "multi_logloss"}
    return {**common, "objective": "regression", "metric": "l2"}


def _weights(task: Task, y: np.ndarray) -> np.ndarray | None:
    """Balanced class weights (as the probe's class_weight="balanced") when the task asks for reweighting."""
    if not isinstance(task, Classification) or task.imbalance not in ("weighted", "focal", "sampler"):
        return None
    counts = np.bincount(y, minlength=task.out_dim).astype(np.float64)
    return (len(y) / (np.count_nonzero(counts) * counts))[y]
