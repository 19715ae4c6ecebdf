"""Fixtures of the CLI tests: the jobs' fit replaced by a recorder (what the command line passed), and a
table of numbers that fits in a second (no encoders)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.cli.recording import Captured

from polymodal.runs.kinds import KINDS, job_class


@pytest.fixture
def captured(monkeypatch):
    """Each job's fit records (kind, get_params(), data, fit keyword arguments), then raises Captured."""
    calls = []

    def recording_fit(self, data, **kwargs):
        calls.append((self.kind, self.get_params(), data, kwargs))
        raise Captured

    for kind in KINDS:
        monkeypatch.setattr(job_class(kind), "fit", recording_fit)
    return calls


@pytest.fixture
def numbers(tmp_path):
    """60 rows: y is the sign of x; z is noise, c a category."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    path = tmp_path / "numbers.csv"
    pd.DataFrame({"x": x, "z": rng.normal(size=60), "c": rng.choice(["a", "b"], 60),
                  "y": np.where(x > 0, "pos", "neg")}).to_csv(path, index=False)
    return path
