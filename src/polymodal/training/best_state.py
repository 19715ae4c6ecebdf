"""Early stopping for the small pre-training stages (predict/denoise.py, predict/pretrain.py): keep the weights of
the lowest held-out loss, and stop after `patience` epochs without one lower by more than `tolerance`.

The main training loop (training/loop.py) has its own, with checkpoints, ranks and a monitored metric; these
stages train one small module in memory and need only this.
"""

from __future__ import annotations

import copy
import math

from torch import nn


class BestState:
    def __init__(self, module: nn.Module, *, patience: int, tolerance: float, best: float = math.inf):
        self.module, self.patience, self.tolerance = module, patience, tolerance
        self.best, self.state, self.waited = best, copy.deepcopy(module.state_dict()), 0

    def stop(self, loss: float) -> bool:
        """Record an epoch's held-out loss; True when it is time to stop."""
        if loss < self.best - self.tolerance:
            self.best, self.state, self.waited = loss, copy.deepcopy(self.module.state_dict()), 0
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self) -> nn.Module:
        """The module with the best weights seen."""
        self.module.load_state_dict(self.state)
        return self.module
