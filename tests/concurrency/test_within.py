"""``lllm.core.aio.within``: a bounded wait that never swallows a cancellation, and the rule that LLLM uses it
(or ``timeout_at``) instead of ``asyncio.wait_for``, which before Python 3.12 could answer a cancelled caller."""

from __future__ import annotations

import ast
import asyncio
import random
from pathlib import Path

import pytest

from lllm.core.aio import within

ROOT = Path(__file__).resolve().parents[2] / "lllm"


async def test_the_result_comes_back_within_the_bound():
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await within(answer(), 5) == 42


async def test_past_the_bound_it_raises_both_timeout_errors_and_cancels_the_wait():
    ended = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            ended.set()

    with pytest.raises(asyncio.TimeoutError) as info:
        await within(slow(), 0.01)
    assert isinstance(info.value, TimeoutError)  # one class on 3.11+, both on 3.10
    assert ended.is_set()


async def test_a_shielded_future_outlives_the_timeout():
    fut = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await within(asyncio.shield(fut), 0.01)
    assert not fut.cancelled()
    fut.set_result("late")
    assert await fut == "late"


async def test_a_cancellation_that_meets_the_result_is_never_lost():
    """The caller is cancelled at random moments around the inner result: every cancel that lands ends the
    caller cancelled (``asyncio.wait_for`` on 3.11 returned the result instead, about half the time)."""
    rng, lost = random.Random(11), 0
    for _ in range(400):
        fut = asyncio.get_running_loop().create_future()
        caller = asyncio.ensure_future(within(asyncio.shield(fut), 30))
        for _ in range(rng.randrange(0, 4)):
            await asyncio.sleep(0)
        fut.set_result("done")
        for _ in range(rng.randrange(0, 3)):
            await asyncio.sleep(0)
        if caller.cancel():
            try:
                await caller
                lost += 1
            except asyncio.CancelledError:
                pass
    assert lost == 0


async def test_a_queue_item_is_not_lost_when_the_wait_times_out():
    queue: "asyncio.Queue[int]" = asyncio.Queue()
    with pytest.raises(TimeoutError):
        await within(queue.get(), 0.01)
    queue.put_nowait(1)
    assert await within(queue.get(), 1) == 1
    assert queue.empty()


def test_lllm_never_calls_asyncio_wait_for():
    calls = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            f = node.func if isinstance(node, ast.Call) else None
            if isinstance(f, ast.Attribute) and f.attr == "wait_for" and getattr(f.value, "id", "") == "asyncio":
                calls.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not calls, f"use lllm.core.aio.within (or timeout_at) instead of asyncio.wait_for: {calls}"
