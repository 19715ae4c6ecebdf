"""A saved model under attack: its metrics on inputs perturbed by FGSM or PGD (training/adversarial.py), for
every modality at once and for each alone, at several budgets (`evaluate --attack fgsm --epsilon ...`)."""

from __future__ import annotations

import pandas as pd
import torch

from ..errors import PolymodalError
from ..tasks import Task
from ..training.adversarial import attackable, check_attack, perturb
from ..training.data import ArrayData, take
from .fitted import FittedModel

BATCH = 256


def check_differentiable(model: torch.nn.Module) -> None:
    fitted = [m for m in model.modules() if isinstance(m, FittedModel)]
    if fitted:
        raise PolymodalError(f"cannot attack this model: it holds {type(fitted[0]).__name__} (gradient-boosted trees "
                             "or nearest neighbours), which has no gradient. Refit with --classical linear or none "
                             "(and --no-ensemble if the ensemble includes one) for a model an attack can follow")


def attacked_logits(model: torch.nn.Module, task: Task, data: ArrayData, *, kind: str, epsilon: float,
                    columns: list[str] | None = None) -> torch.Tensor:
    """The model's logits on `data` with its float inputs (or `columns`) attacked within `epsilon`."""
    check_differentiable(model)

    def loss_fn(logits, targets):
        return task.step(logits.float(), targets).loss

    out = []
    model.eval()
    for start in range(0, len(data), BATCH):
        idx = torch.arange(start, min(start + BATCH, len(data)))
        inputs, masks, targets = data.take(idx)
        attacked = perturb(model, loss_fn, inputs, masks, targets, kind=kind, epsilon=epsilon, columns=columns)
        with torch.no_grad():
            out.append(model(attacked, masks).float())
    return torch.cat(out)


def robustness(model: torch.nn.Module, task: Task, data: ArrayData, *, kind: str, epsilons: list[float]
               ) -> pd.DataFrame:
    """Per budget (0: no attack) and per target (every modality at once, then each alone): the task's
    monitored metric (and accuracy where there is one)."""
    for epsilon in epsilons:
        check_attack(kind, epsilon)
    if data.targets is None:
        raise PolymodalError("an attack needs the label column: it raises the loss against the true labels")
    check_differentiable(model)
    columns = attackable({c: take(v, torch.arange(min(2, len(data)))) for c, v in data.inputs.items()
                          if c in model.modalities})
    if not columns:
        raise PolymodalError("nothing to attack: none of this model's inputs is continuous (text and categories "
                             "are not)")
    rows = []
    with torch.no_grad():
        clean = task.metrics(_clean(model, data), data.targets)
    rows.append(_row(0.0, "none", clean, task))
    for epsilon in epsilons:
        for target in ["all", *columns]:
            logits = attacked_logits(model, task, data, kind=kind, epsilon=epsilon,
                                     columns=None if target == "all" else [target])
            rows.append(_row(epsilon, target, task.metrics(logits, data.targets), task))
    return pd.DataFrame(rows)


def _clean(model, data: ArrayData) -> torch.Tensor:
    from ..training.loop import predict_logits

    return predict_logits(model, data)


def _row(epsilon: float, target: str, metrics: dict, task: Task) -> dict:
    return {"epsilon": epsilon, "attacked": target, task.monitor: float(metrics[task.monitor]),
            **({"accuracy": float(metrics["accuracy"])} if "accuracy" in metrics else {})}
