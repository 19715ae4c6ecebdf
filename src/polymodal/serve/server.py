"""`serve(...)`: uvicorn on loopback by default, one process, the app from `create_app`."""

from __future__ import annotations

import ipaddress
import warnings

from ..errors import PolymodalError
from .access import ENV_KEYS, keys_from
from .app import create_app
from .uploads import remove_orphans

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
          log_level: str = "info", api_keys: tuple[str, ...] = (), insecure_no_auth: bool = False,
          rate_limit: str | None = None, cors_origins: tuple[str, ...] = ()):
    """uvicorn on `host`. Anything but loopback needs `api_keys` (or `POLYMODAL_API_KEY`), unless
    `insecure_no_auth` accepts that anyone who reaches the port may use it."""
    import uvicorn

    keys = keys_from(api_keys)
    check_exposure(host, keys, insecure_no_auth)
    remove_orphans()  # what a killed earlier server left in the temporary folder
    app = create_app(targets, runtime=runtime, max_upload_mb=max_upload_mb, timeout_s=timeout_s,
                     batching=batching, batch_workers=batch_workers, api_keys=keys, rate_limit=rate_limit,
                     cors_origins=tuple(cors_origins))
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5)


def check_exposure(host: str, keys: tuple[str, ...], insecure_no_auth: bool) -> None:
    """Refuse to listen beyond this machine without a key, unless the risk is accepted explicitly."""
    if is_loopback(host) or keys:
        return
    if not insecure_no_auth:
        raise PolymodalError(
            f"refusing to serve on {host} without an API key: anyone who can reach the port could predict, "
            f"search, generate and read every indexed file. Pass --api-key KEY (or set {ENV_KEYS}), or "
            "--insecure-no-auth to accept that risk")
    warnings.warn(f"serving on {host} without an API key (--insecure-no-auth): anyone who can reach the port "
                  "can use it", stacklevel=3)
