"""Micro-batching of concurrent requests: those that arrive while a batch runs go together into the next.

No request waits for others to come: a lone request runs at once, alone. Under load, requests queue
while the model works, and the next batch takes all of them (up to `max_batch`), so encoders and head
run once per batch instead of once per request. Requests that timed out meanwhile are dropped from
the batch. `fn(items) -> results` runs in worker threads, `workers` batches at a time (two batches in
flight keep both cores of a small machine busy: one decodes and hands over while the other computes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool


class Batcher:
    def __init__(self, fn: Callable[[list[Any]], list[Any]], *, max_batch: int = 32, workers: int = 1):
        self.fn, self.max_batch, self.workers = fn, max_batch, workers
        self.queue: asyncio.Queue | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: list[asyncio.Task] = []
        self.sizes: list[int] = []  # sizes of the last batches, for /info and the benchmark

    async def submit(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (a test client per request): start afresh on it
            self.loop, self.queue = loop, asyncio.Queue()
            self.tasks = [loop.create_task(self._run()) for _ in range(self.workers)]
        future = loop.create_future()
        await self.queue.put((item, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            batch = [(item, fut) for item, fut in batch if not fut.done()]  # cancelled by a timeout
            if not batch:
                continue
            self.sizes = [*self.sizes[-99:], len(batch)]
            try:
                results = await run_in_threadpool(self.fn, [item for item, _ in batch])
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
