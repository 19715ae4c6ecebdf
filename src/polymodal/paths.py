"""Where polymodal keeps things between runs: built data sets and the feature cache."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """`$POLYMODAL_HOME`, else `~/.cache/polymodal`."""
    env = os.environ.get("POLYMODAL_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "polymodal"


def data_home() -> Path:
    """Default folder for data sets built by `polymodal data build`."""
    return home() / "data"
