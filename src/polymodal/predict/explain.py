"""Which modality drove a prediction: exact Shapley values over modalities, and permutation importance.

**Shapley values over modalities.** A fitted model takes a presence mask per modality, and hiding one is
exact: the fusion contract says a masked modality has no effect on the output (fusion/base.py). So the
value of a coalition S of modalities for a row is simply the model's output with only S shown, and the
Shapley value of modality i (Shapley 1953) is the average over coalitions of what adding i changes:

    phi_i = sum over S not holding i of |S|! (M - |S| - 1)! / M! * (v(S + i) - v(S))

with v(S) the probability of the class the model predicts with every modality (the predicted value, for
regression). The values add up exactly: v(all) = v(none) + sum_i phi_i, where v(none) is the model with
everything hidden (its prior). With up to `EXACT_UP_TO` modalities every one of the 2^M coalitions is
evaluated; above, `samples` random orderings (Castro, Gomez and Tejada 2009) estimate them, unbiased. A
modality a row lacks gets 0: hiding it changes nothing.

**Permutation importance** (Breiman 2001; Fisher, Rudin and Dominici 2019): the drop in a metric when one
modality's cells (inputs and presence together) are shuffled across rows, mean ± std over repeats; for a
`tabular` group also each member column alone, by shuffling its slots of the group's vector.

Written here rather than with SHAP or Captum: they perturb features; a modality here is a mask bit, and
with the masks the exact values cost 2^M batched forward passes, which no library offers.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import torch

from ..errors import PolymodalError
from ..tasks import Classification, Regression, Task
from ..training.data import ArrayData
from ..training.loop import predict_logits

EXACT_UP_TO = 8  # 2^8 = 256 coalitions, each one batched forward pass over the rows
SAMPLES = 64  # random orderings when there are more modalities
REPORT_ROWS = 300  # rows of the evaluation split a fit's report explains
REPORT_EXACT_UP_TO, REPORT_SAMPLES = 6, 16  # the report's budget: 64 coalitions, or 16 orderings


def check_task(task: Task) -> None:
    if not isinstance(task, Classification | Regression):
        raise PolymodalError(f"explanations cover single-label classification and regression; this run's task is "
                             f"{task.kind}")


def _value(task: Task, logits: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Per row: the probability of class `target` (classification), or the predicted value (regression)."""
    if isinstance(task, Classification):
        proba = torch.softmax(logits.float(), 1)
        return proba.gather(1, target.view(-1, 1)).squeeze(1).double()
    return torch.from_numpy(task.predict(logits)[task.column].to_numpy(dtype=np.float64))


def _shown(data: ArrayData, keep: set[str]) -> ArrayData:
    masks = {c: m if c in keep else torch.zeros_like(m) for c, m in data.masks.items()}
    return ArrayData(data.inputs, masks, data.targets, data.groups)


def shapley(model: torch.nn.Module, data: ArrayData, task: Task, *, exact_up_to: int = EXACT_UP_TO,
            samples: int = SAMPLES, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Per row, each modality's Shapley value (a DataFrame, one column per modality), the value with nothing
    shown (`[N]`) and with everything shown (`[N]`): base + the row's values = full, up to float rounding."""
    check_task(task)
    modalities = list(model.modalities)
    m = len(modalities)
    full_logits = predict_logits(model, data)
    target = full_logits.argmax(1) if isinstance(task, Classification) else None
    cache: dict[frozenset, torch.Tensor] = {}

    def v(keep: frozenset) -> torch.Tensor:
        if keep not in cache:
            cache[keep] = _value(task, predict_logits(model, _shown(data, set(keep))), target)
        return cache[keep]

    phi = torch.zeros(len(data), m, dtype=torch.float64)
    if m <= exact_up_to:
        for i, name in enumerate(modalities):
            others = [c for c in modalities if c != name]
            for size in range(m):
                weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                for subset in itertools.combinations(others, size):
                    s = frozenset(subset)
                    phi[:, i] += weight * (v(s | {name}) - v(s))
    else:
        rng = np.random.default_rng(seed)
        for _ in range(samples):
            order = rng.permutation(m)
            shown: frozenset = frozenset()
            before = v(shown)
            for i in order:
                shown = shown | {modalities[i]}
                after = v(shown)
                phi[:, i] += (after - before) / samples
                before = after
            cache.clear()  # a new ordering shares few coalitions; memory stays one ordering's
    base, full = v(frozenset()), v(frozenset(modalities))
    return pd.DataFrame(phi.numpy(), columns=modalities), base.numpy(), full.numpy()


def permutation_importance(model: torch.nn.Module, data: ArrayData, task: Task, *, repeats: int = 5,
                           seed: int = 0, groups: dict[str, dict[str, slice]] | None = None) -> pd.DataFrame:
    """The drop in the task's monitored metric when each modality (and each member of a tabular group, by its
    `groups[modality]` slots) is shuffled across rows, mean and std over `repeats` shuffles."""
    if data.targets is None:
        raise PolymodalError("permutation importance needs the label column in the table")
    metric = task.monitor
    reference = float(task.metrics(predict_logits(model, data), data.targets)[metric])
    rng = np.random.default_rng(seed)
    rows = []
    units = [(c, None) for c in model.modalities] + [(c, (member, slots)) for c, members in (groups or {}).items()
                                                   for member, slots in members.items()]
    for column, part in units:
        drops = []
        for _ in range(repeats):
            order = torch.from_numpy(rng.permutation(len(data)))
            inputs, masks = dict(data.inputs), dict(data.masks)
            if part is None:
                inputs[column] = _take(data.inputs[column], order)
                masks[column] = data.masks[column][order]
            else:
                x = data.inputs[column].clone()
                x[:, part[1]] = data.inputs[column][order][:, part[1]]
                inputs[column] = x
            shuffled = ArrayData(inputs, masks, data.targets)
            drops.append(reference - float(task.metrics(predict_logits(model, shuffled), data.targets)[metric]))
        rows.append({"modality": column, "column": part[0] if part else column, "metric": metric,
                     "drop": float(np.mean(drops)), "drop_std": float(np.std(drops)), "reference": reference})
    return pd.DataFrame(rows).sort_values("drop", ascending=False, ignore_index=True)


def _take(values, order: torch.Tensor):
    return values[order] if isinstance(values, torch.Tensor) else [values[i] for i in order.tolist()]


def summary(model: torch.nn.Module, data: ArrayData, task: Task, *, rows: int = REPORT_ROWS, seed: int = 0,
            groups: dict[str, dict[str, slice]] | None = None, exact_up_to: int = REPORT_EXACT_UP_TO,
            samples: int = REPORT_SAMPLES, repeats: int = 3) -> pd.DataFrame:
    """Per modality (and tabular member): mean |Shapley value| over (at most `rows` of) `data`, and the
    permutation importance, for a report."""
    if len(data) > rows:
        data = data.subset(torch.from_numpy(np.sort(np.random.default_rng(seed).choice(len(data), rows, False))))
    phi, _, _ = shapley(model, data, task, exact_up_to=exact_up_to, samples=samples, seed=seed)
    mean_abs = phi.abs().mean()
    perm = permutation_importance(model, data, task, repeats=repeats, seed=seed, groups=groups)
    perm["mean_abs_shapley"] = [mean_abs.get(c, np.nan) if m == c else np.nan
                                for m, c in zip(perm["modality"], perm["column"], strict=True)]
    return perm
