"""Batch edge cases: fail_fast lets running tasks finish (async tactics too), failures and cancellation."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lllm import Tactic
from lllm.logging import sqlite_store
from lllm.logging.batch_leases import BatchLeases


class Race(Tactic, register=False):
    """``bad`` fails once ``slow`` is running; ``slow`` finishes only a few loop turns after that failure."""

    name = "s7_race"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.started: list = []  # shared with the per-call copies, like the events
        self.finished: list = []
        self.slow_running, self.bad_failed = asyncio.Event(), asyncio.Event()

    async def call(self, task: str) -> str:
        self.started.append(task)
        if task == "bad":
            await self.slow_running.wait()
            self.bad_failed.set()
            raise RuntimeError("bad task")
        if task == "slow":
            self.slow_running.set()
            await self.bad_failed.wait()
            for _ in range(10):  # the batch has seen the failure by now
                await asyncio.sleep(0)
        self.finished.append(task)
        return task.upper()


def test_async_bcall_fail_fast_lets_running_tasks_finish_and_starts_no_more():
    race = Race({})
    with pytest.raises(RuntimeError, match="bad task"):
        race.bcall(["bad", "slow", "later"], max_workers=2)
    assert race.finished == ["slow"]  # documented: raised once the running ones finish
    assert race.started == ["bad", "slow"]  # and tasks not yet started are cancelled


class Orphaned(Tactic, register=False):
    """``bad`` awaits a future someone else cancelled, so its call ends in CancelledError from inside."""

    name = "s7_orphaned"

    async def call(self, task: str) -> str:
        if task == "bad":
            shared = asyncio.get_running_loop().create_future()
            shared.cancel()
            await shared
        await asyncio.sleep(0)
        return task.upper()


def test_a_task_cancelled_from_inside_fills_its_slot_and_the_batch_goes_on():
    """One task ending cancelled (not the batch) aborted the whole batch with CancelledError, even with
    fail_fast=False / return_exceptions=True, and the other results were lost."""
    out = Orphaned({}).bcall(["a", "bad", "c"], fail_fast=False)
    assert out[0] == "A" and out[2] == "C" and isinstance(out[1], asyncio.CancelledError)

    async def consume():
        return {i: r async for i, r in Orphaned({}).ccall(["a", "bad", "c"], return_exceptions=True)}

    got = asyncio.run(consume())
    assert got[0] == "A" and got[2] == "C" and isinstance(got[1], asyncio.CancelledError)


def test_cancelling_a_durable_ccall_keeps_a_running_sync_tasks_lease_until_it_ends(tmp_path):
    """A sync tactic's call runs in a thread that cancellation cannot stop; its lease was released at once,
    so another runner of the batch could take the task and run it a second time alongside."""
    store = sqlite_store(str(tmp_path / "runs.db"))
    lease = BatchLeases(store, "s7-held").lease_name(0)
    entered, gate, ended = threading.Event(), threading.Event(), threading.Event()
    held_while_running = []

    class Held(Tactic, register=False):
        name = "s7_held"

        def call(self, task: str) -> str:
            entered.set()
            gate.wait(30)
            held_while_running.append(store.get_lease(lease) is not None)
            ended.set()
            return task

    def open_gate_once_released_or_soon():
        for _ in range(100):  # released early, this sees it within a few polls
            if store.get_lease(lease) is None:
                break
            time.sleep(0.01)
        gate.set()

    async def main():
        async def consume():
            async for _ in Held(log_store=store).ccall(["a"], batch_id="s7-held"):
                pass

        consumer = asyncio.ensure_future(consume())
        assert await asyncio.to_thread(entered.wait, 30)
        watcher = threading.Thread(target=open_gate_once_released_or_soon)
        watcher.start()
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await asyncio.to_thread(watcher.join)

    asyncio.run(main())
    assert ended.wait(30) and held_while_running == [True]
    assert store.get_lease(lease) is None  # released once the call ended
