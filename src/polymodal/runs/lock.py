"""Lock files that say who holds them: `take(path)` creates `path` exclusively with this host and pid inside, and
`is_stale(path)` tells whether its holder is a process on this machine that is gone (killed, out of memory), so a
waiting process can take over. A holder on another machine cannot be checked from here, so its lock is never
called stale. Used where one process of many does a piece of work once (training an IVF-PQ quantizer,
compacting the feature cache)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path


def take(path: Path, **meta) -> bool:
    """Create the lock `path` (True), or find it held (False)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    try:
        os.write(fd, json.dumps({**meta, "host": socket.gethostname(), "pid": os.getpid()}).encode())
    finally:
        os.close(fd)
    return True


def is_stale(path: Path, older_than: float | None = None) -> bool:
    """Whether `path` names a process on this machine that is gone, or (with `older_than`, for work that never
    takes long) was taken more than `older_than` seconds ago."""
    try:
        if older_than is not None and time.time() - path.stat().st_mtime > older_than:
            return True
        owner = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return False  # gone meanwhile, or being written
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def release(path: Path) -> None:
    path.unlink(missing_ok=True)
