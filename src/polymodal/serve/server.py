"""`serve(...)`: uvicorn on loopback by default, one process, the app from `create_app`."""

from __future__ import annotations

import ipaddress
import warnings

from .app import create_app

LOOPBACK = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(targets: list, *, host: str = "127.0.0.1", port: int = 8000, runtime: str = "torch",
          max_upload_mb: float = 20.0, timeout_s: float = 30.0, batching: bool = False, batch_workers: int = 2,
          log_level: str = "info"):
    import uvicorn

    if not is_loopback(host):  # the default is loopback: this is the user's explicit choice
        warnings.warn(f"serving on {host}: reachable from other machines; there is no authentication",
                      stacklevel=2)
    app = create_app(targets, runtime=runtime, max_upload_mb=max_upload_mb, timeout_s=timeout_s,
                     batching=batching, batch_workers=batch_workers)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5)
