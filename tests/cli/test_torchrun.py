"""`torchrun --nproc_per_node=2 -m polymodal fit ...` on gloo: one report, one run directory written by rank 0,
nothing left behind by rank 1, and the run predicts like any other; a fit that rank 0 refuses stops every rank."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.launch import child_env, torchrun


def _table(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    words = ["red", "green", "blue", "round", "square", "tiny"]
    rows = [{"text": f"a {words[i % 4]} thing {words[rng.integers(6)]}", "x": rng.normal() + i % 4,
             "label": f"k{i % 4}"} for i in range(120)]
    pd.DataFrame(rows).to_csv(folder / "t.csv", index=False)
    return folder / "t.csv"


def _torchrun(*args: str, cwd: Path, scratch: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*torchrun(2), "-m", "polymodal", *args], cwd=cwd,
                          env=child_env(OMP_NUM_THREADS="1", TMPDIR=str(scratch)), capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_fit_on_two_ranks_writes_one_run(tmp_path):
    table = _table(tmp_path)
    scratch = Path(tempfile.mkdtemp(dir=tmp_path))
    done = _torchrun("fit", str(table), "--label", "label", "--fusion", "concat", "--epochs", "3",
                     "--out", "run", cwd=tmp_path, scratch=scratch)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("run written to run") == 1  # rank 1 prints nothing
    assert (tmp_path / "run" / "polymodal.json").exists()
    assert not list(scratch.glob("polymodal-rank*"))  # rank 1's scratch copy is gone

    from polymodal import Predictor

    out = Predictor.load(tmp_path / "run").predict(pd.read_csv(table))
    assert len(out) == 120 and set(out) <= {"k0", "k1", "k2", "k3"}

    again = _torchrun("fit", str(table), "--label", "label", "--out", "run", cwd=tmp_path, scratch=scratch)
    assert again.returncode != 0
    assert again.stderr.count("holds a finished run") == 2  # rank 0 refuses, and rank 1 stops with its reason
