"""SIGKILL at a random moment: the fault no clean-up code sees (no `finally`, no atexit, no flush).

The moment is drawn from a seeded generator, so a failure names a delay that can be replayed, and it is a
fraction of the uninterrupted run's own time, so it can land anywhere in the work: mid-extraction,
mid-epoch, mid-checkpoint, mid-save."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def kill_at_random(cmd: list[str], out: Path, *, seconds: float, seed: str, started: Callable[[], bool] = lambda: True,
                   tries: int = 4) -> float:
    """Run `cmd` (which writes `out`); once `started()` holds, wait a random fraction of `seconds`, then SIGKILL it.
    Returns the delay. A process that ends before its kill is run again with half the delay (into a cleared
    `out`): the test is about a killed run, and fails if none could be killed."""
    rng = random.Random(seed)
    fraction = rng.uniform(0.05, 0.9)
    for _ in range(tries):
        shutil.rmtree(out, ignore_errors=True)
        log = out.with_name(f"{out.name}.stderr")  # a file, not a pipe: a full pipe would stall the process
        with log.open("wb") as err:
            proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while not started() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(fraction * seconds)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return fraction * seconds
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        assert proc.returncode == 0, f"{' '.join(cmd)} failed before its kill:\n{log.read_text()[-3000:]}"
        fraction /= 2
    raise AssertionError(f"{' '.join(cmd)} finished every time before it could be killed (last delay "
                         f"{fraction * 2 * seconds:.2f} s)")


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of a write cut short (runs/files.py atomic_write, the cache's shards, index staging)."""
    return [p for p in folder.rglob(".*") if p.name.endswith(".tmp") or ".tmp-" in p.name or ".staged-" in p.name
            or ".partial-" in p.name]
