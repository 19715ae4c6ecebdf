"""How the tests start polymodal in child processes (the CLI, torchrun, a measuring script): this checkout's
`src` first on the path, and none of the launcher variables of the process that runs the tests (a
WORLD_SIZE or a SLURM array task left there would turn every child into a rank or a shard)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
LAUNCHER = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_MIN")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **extra}


def torchrun(ranks: int) -> list[str]:
    """The command that starts `ranks` local processes of what follows (gloo on CPU)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
