"""The HTTP face of a failure: a status code and a message the client can act on."""

from __future__ import annotations

import json

from starlette.types import Send


class ApiError(Exception):
    """Raised anywhere in the serving code; the app turns it into `{"detail": message}` with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def bad_input(message: str) -> ApiError:
    return ApiError(422, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def too_large(message: str) -> ApiError:
    return ApiError(413, message)


def wrong_type(message: str) -> ApiError:
    return ApiError(415, message)


async def send_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """`{"detail": message}` with `status`, sent straight from ASGI middleware (before any route runs)."""
    body = json.dumps({"detail": message}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})
