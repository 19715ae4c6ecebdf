"""Request limits: the body size (413 before the body is read when Content-Length says so, and while
reading otherwise) and the time a request may take (504)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, send_error

T = TypeVar("T")


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"the request body is larger than the limit of {limit / 1e6:g} MB")


class BodyLimit:
    """ASGI middleware: reject bodies over `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await send_error(send, 413, str(BodyTooLarge(self.limit)), {"Connection": "close"})
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # chunked bodies announce no length: count them as they come
                raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


async def within(seconds: float, work: Awaitable[T]) -> T:
    """`work`, or a 504 once it has taken `seconds` (its thread finishes in the background)."""
    try:
        return await asyncio.wait_for(work, seconds)
    except (asyncio.TimeoutError, TimeoutError):  # distinct types before Python 3.11
        raise ApiError(504, f"the request took longer than the limit of {seconds:g} s") from None
