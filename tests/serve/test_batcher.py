"""Micro-batching: concurrent requests share batches, each gets its own answer, errors reach every caller."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fastapi.testclient import TestClient

from polymodal.serve.batcher import Batcher


def test_concurrent_submissions_are_batched_and_answered_in_order():
    seen: list[list[int]] = []

    def square(items: list[int]) -> list[int]:
        seen.append(list(items))
        return [x * x for x in items]

    async def main():
        batcher = Batcher(square, max_batch=4)
        return await asyncio.gather(*(batcher.submit(i) for i in range(10))), batcher.sizes

    results, sizes = asyncio.run(main())
    assert results == [i * i for i in range(10)]
    assert sorted(x for batch in seen for x in batch) == list(range(10))
    assert max(sizes) == 4 and sum(sizes) == 10  # queued requests went together, none over max_batch


def test_an_error_in_a_batch_reaches_each_caller_and_the_batcher_goes_on():
    def fail_on_three(items: list[int]) -> list[int]:
        if 3 in items:
            raise ValueError("three is not allowed")
        return items

    async def main():
        batcher = Batcher(fail_on_three, max_batch=8)
        first = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
        return first, await batcher.submit(7)

    first, later = asyncio.run(main())
    assert all(isinstance(r, ValueError) for r in first[1:]) and later == 7


@pytest.mark.slow
def test_batched_http_answers_equal_single_answers(predictor_run, table):
    from polymodal.serve import create_app

    images = [(table.parent / "img" / f"{i}.png").read_bytes() for i in range(8)]
    single = TestClient(create_app([predictor_run]))
    expected = [single.post("/predict", files={"photo": ("p.png", im, "image/png")}).json() for im in images]
    app = create_app([predictor_run], batching=True)
    answers: dict[int, dict] = {}
    with TestClient(app) as client:  # one event loop: the threads' requests meet in the batcher
        def call(i: int) -> None:
            answers[i] = client.post("/predict", files={"photo": ("p.png", images[i], "image/png")}).json()

        threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i, want in enumerate(expected):
        got = answers[i]["predictions"][0]
        assert got["value"] == want["predictions"][0]["value"]
        for cls, p in want["predictions"][0]["probabilities"].items():
            assert got["probabilities"][cls] == pytest.approx(p, abs=1e-5)
    sizes = app.state.served["colors"].service.batcher.sizes
    assert sum(sizes) == 8
