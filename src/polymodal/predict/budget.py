"""A time budget for fitting (`time_limit=`, `--time-limit SECONDS`), AutoGluon's habit.

The clock starts when `fit` is called, so reading the table and computing features count. Then:
- the classical candidates run first: they are the cheapest in practice and their cost cannot be probed
  without running them;
- each neural candidate's epoch is timed on a few training steps (`training.loop.epoch_seconds`), and the
  candidates train cheapest first. Each gets an equal share of the time left when it starts (so what a
  cheap one leaves unused goes to the rest) and as many epochs as fit in that share, at most `epochs`; its
  learning-rate schedule spans those epochs. A candidate without time for one epoch is skipped, and the
  fit says which and why;
- inside a candidate, no epoch starts that the last one's duration says would end after the deadline, so a
  fit overruns its budget by at most about one epoch of one candidate.
The saved model is the best of the candidates that finished. Stages that repeat the selection share the
budget: each cross-validation fold and the final fit, each bagging fold, each self-training round get an
equal share of what is left when they start.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import PolymodalError


def check_time_limit(seconds: float | None) -> None:
    if seconds is None:
        return
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise PolymodalError(f"time_limit must be a positive number of seconds, got {seconds!r}")


class Budget:
    """The fit's deadline, and the current stage's (`share`). Without a time limit, everything is infinite."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + float(seconds)
        self.stage_end = self.end

    @property
    def active(self) -> bool:
        return self.end is not None

    def left(self) -> float:
        """Seconds left in the current stage; under torchrun, rank 0's count (every rank plans alike)."""
        if self.stage_end is None:
            return math.inf
        from ..training.distributed import decide, world

        return decide(self.stage_end - time.monotonic(), world())

    @contextmanager
    def share(self, parts: int) -> Iterator[None]:
        """The stage inside gets 1/`parts` of the time left in the current one (then the current one resumes)."""
        if self.stage_end is None:
            yield
            return
        outer = self.stage_end
        self.stage_end = time.monotonic() + max(0.0, outer - time.monotonic()) / max(1, parts)
        try:
            yield
        finally:
            self.stage_end = outer


def plan_text(costs: dict[str, float], epochs: int, classical: list[str], budget: Budget) -> str:
    """The candidates with their estimated times (an epoch from a short probe, times the epochs at most) and
    the total, for the log before training."""
    items = [f"{name} ~{cost:.1f} s/epoch" for name, cost in sorted(costs.items(), key=lambda kv: kv[1])]
    total = sum(costs.values()) * epochs
    head = (f"time limit {budget.seconds:g} s, {budget.left():.0f} s left: " if budget.active else "")
    return (f"plan: {head}{len(costs)} neural candidate(s) at most {epochs} epochs each, at most ~{total:.0f} s "
            f"before early stopping ({', '.join(items)})" + (f"; classical: {', '.join(classical)}" if classical
                                                            else ""))


def too_small(budget: Budget, costs: dict[str, float]) -> PolymodalError:
    cheapest = min(costs.items(), key=lambda kv: kv[1]) if costs else None
    named = f"; the cheapest neural candidate, {cheapest[0]}, needs about {cheapest[1]:.1f} s an epoch" \
        if cheapest else ""
    return PolymodalError(f"time_limit={budget.seconds:g} s is too small: no candidate finished within it "
                          f"(reading the table and computing features count too){named}. Give more time, or "
                          "fewer candidates (--fusion, --classical)")
