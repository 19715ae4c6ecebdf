"""A differentially private fit (`dp_epsilon=`, `fit --dp-epsilon E --dp-delta D`): one fusion trained by DP-SGD
(training/private.py), and what it cannot be combined with.

One model, because every model trained on the rows spends budget of its own: the unimodal baselines and a second
fusion would each need a share, and the classical candidates have no private fit here. So a private fit trains the
one fusion named, chooses its epoch on validation, and reports the epsilon spent beside the target.
"""

from __future__ import annotations

from ..errors import PolymodalError
from ..training.private import Privacy, check_privacy


def check_private(p, tuning_data) -> None:
    """The budget's values and the options a private fit refuses, before any work."""
    if p.dp_epsilon is None:
        return
    check_privacy(p.dp_epsilon, p.dp_delta, p.dp_clip)
    fusions = p._fusions()
    if len(fusions) != 1:
        raise PolymodalError(f"a private fit (--dp-epsilon) trains one fusion, as each model trained on the rows "
                             f"spends budget of its own; name one with --fusion (given: {p.fusion!r})")
    refused = {"bag_folds": bool(p.bag_folds), "teacher": p.teacher is not None, "augment": bool(p.augment),
               "adversarial": p.adversarial is not None, "denoise": bool(p.denoise), "pretrain": bool(p.pretrain),
               "unlabeled='use'": p.unlabeled == "use", "imbalance='smote'": p.imbalance == "smote",
               "imbalance='sampler'": p.imbalance == "sampler", "estimate='cv'": p.estimate == "cv",
               "warm_start": p.warm_start is not None, "stream": p.stream is True}
    named = [k for k, v in refused.items() if v]
    if named:
        raise PolymodalError(f"a private fit (--dp-epsilon) cannot be combined with {', '.join(named)}: each would use "
                             "the training rows outside the private optimizer's accounting")


def privacy_for(p) -> Privacy | None:
    """A fresh budget for one candidate's training, or None when the fit is not private."""
    return None if p.dp_epsilon is None else Privacy(float(p.dp_epsilon), float(p.dp_delta), float(p.dp_clip))
