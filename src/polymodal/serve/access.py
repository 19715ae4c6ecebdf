"""Who may call the server: API keys, a per-client rate limit, and the cross-origin policy.

Keys. With keys configured, every request but the health check, the web page's shell (`/`, `/static/...`,
which hold no data) and CORS preflights must carry one, as `Authorization: Bearer KEY`, `X-API-Key: KEY`, or the
`polymodal_key` cookie the web page sets after asking for it once (so that `<img>` and `<audio>` elements, which
cannot send headers, load `/media` hits). No key: 401 with `WWW-Authenticate: Bearer`; a wrong one: 403. The
comparison is constant-time against every key (`hmac.compare_digest`), so the response time does not tell how
much of a guess was right.

Rate limit. `"30/minute"` (the `limits` package's notation: N per second, minute, hour or day) per client
address, in a moving window; over it: 429 with `Retry-After` in seconds. It runs before the key check, so guessing
keys is throttled too. Behind a reverse proxy every request comes from the proxy: uvicorn takes the client's
address from `X-Forwarded-For` when the proxy is on loopback, and from other proxies named in
`FORWARDED_ALLOW_IPS`.

CORS. Off unless origins are given: a browser page from another site cannot read any response.
"""

from __future__ import annotations

import hmac
import math
import os
import time
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import PolymodalError
from .errors import send_error

ENV_KEYS = "POLYMODAL_API_KEY"  # one key, or several separated by commas
COOKIE = "polymodal_key"
OPEN_PATHS = ("/health", "/")  # the health check, and the page's shell (it asks for the key)
OPEN_PREFIXES = ("/static/",)
MIN_KEY_LENGTH = 16


def keys_from(given: list[str] | tuple[str, ...] | None, environ: dict | None = None) -> tuple[str, ...]:
    """The keys given (`--api-key`, repeatable) plus those of `POLYMODAL_API_KEY`; short keys are refused."""
    env = (environ if environ is not None else os.environ).get(ENV_KEYS, "")
    keys = [k.strip() for k in [*(given or []), *env.split(",")] if k.strip()]
    short = [k for k in keys if len(k) < MIN_KEY_LENGTH]
    if short:
        raise PolymodalError(f"an API key must have at least {MIN_KEY_LENGTH} characters ({len(short)} shorter "
                             f"given); make one with: python -c \"import secrets; print(secrets.token_urlsafe(24))\"")
    return tuple(dict.fromkeys(keys))


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def presented_key(scope: Scope) -> str | None:
    """The key a request carries: bearer token, X-API-Key header, or the web page's cookie, the first of them
    that is not blank (an empty `Authorization: Bearer ` is no key and hides none sent another way)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
    auth = headers.get("authorization", "")
    given = [auth[7:] if auth[:7].lower() == "bearer " else "", headers.get("x-api-key", "")]
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            given.append(unquote(value))
    return next((key.strip() for key in given if key.strip()), None)


def key_matches(key: str, keys: tuple[str, ...]) -> bool:
    """Constant-time against every key: no early exit on the first match either."""
    given = key.encode()
    return bool(sum(hmac.compare_digest(given, k.encode()) for k in keys))


class ApiKeys:
    """ASGI middleware: 401 without a key, 403 with a wrong one (see the module docstring)."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...]):
        if not keys:
            raise PolymodalError("ApiKeys needs at least one key")
        self.app, self.keys = app, tuple(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        key = presented_key(scope)
        if not key:
            return await send_error(send, 401, "an API key is required: send 'Authorization: Bearer KEY' or "
                                    "'X-API-Key: KEY'", {"WWW-Authenticate": 'Bearer realm="polymodal"'})
        if not key_matches(key, self.keys):
            return await send_error(send, 403, "the API key is not valid")
        return await self.app(scope, receive, send)


def parse_rate(text: str):
    """`"30/minute"` -> a `limits` rate item; a clear error for anything else."""
    from limits import parse

    try:
        return parse(text)
    except ValueError:
        raise PolymodalError(f"rate limit {text!r}: write it as N/second, N/minute, N/hour or N/day "
                             "(for example 30/minute)") from None


class RateLimit:
    """ASGI middleware: at most `rate` requests per client address in a moving window; then 429 + Retry-After."""

    def __init__(self, app: ASGIApp, rate: str):
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.app, self.rate = app, parse_rate(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown", 0))[0]
        if not self.limiter.hit(self.rate, client):
            reset = self.limiter.get_window_stats(self.rate, client).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            return await send_error(send, 429, f"too many requests: the limit is {self.rate}; retry in {wait} s",
                                    {"Retry-After": str(wait)})
        return await self.app(scope, receive, send)
