"""``in_daemon_thread`` and ``DaemonPool``: daemon threads, reused while busy, ended once idle."""

from __future__ import annotations

import asyncio
import threading
import time

from lllm.core.aio import DaemonPool, in_daemon_thread, run_in_daemon_thread


async def test_calls_run_on_daemon_threads_in_the_callers_context() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller's")
    thread, seen = await in_daemon_thread(lambda: (threading.current_thread(), var.get()))
    assert thread.daemon and thread.name.startswith("lllm-call") and seen == "caller's"


def test_sequential_calls_reuse_one_idle_thread() -> None:
    """A thread marks itself idle before its result is out, so the caller's next call finds it (a thread per
    call cost ~0.1 ms)."""
    pool = DaemonPool(None, "reuse-pool")
    threads = {pool.submit(threading.current_thread).result(timeout=30) for _ in range(20)}
    pool.shutdown(wait=True)
    assert len(threads) == 1


async def test_concurrent_calls_are_not_queued_behind_busy_threads() -> None:
    """asyncio.to_thread's pool has min(32, cpus + 4) threads: more blocked calls than that waited in line."""
    gate = threading.Event()
    n = 40
    calls = [in_daemon_thread(gate.wait, 30) for _ in range(n)]
    try:
        deadline = time.monotonic() + 30
        while sum(t.name.startswith("lllm-call") and t.is_alive() for t in threading.enumerate()) < n:
            assert time.monotonic() < deadline, "the calls did not all get a thread"
            await asyncio.sleep(0.01)
    finally:
        gate.set()
    assert await asyncio.gather(*calls) == [True] * n


def test_a_thread_idle_for_idle_s_ends_and_a_later_call_gets_a_new_one() -> None:
    pool = DaemonPool(None, "idle-pool")
    pool.IDLE_S = 0.05
    first = pool.submit(threading.current_thread).result(timeout=30)
    deadline = time.monotonic() + 30
    while first.is_alive():
        assert time.monotonic() < deadline, "the idle thread did not end"
        time.sleep(0.01)
    second = pool.submit(threading.current_thread).result(timeout=30)
    assert second is not first and second.daemon
    pool.shutdown(wait=True)
    assert not second.is_alive()


async def test_an_error_reaches_the_awaiting_call_and_the_thread_serves_the_next() -> None:
    def boom() -> None:
        raise KeyError("in the thread")

    for _ in range(2):
        try:
            await in_daemon_thread(boom)
        except KeyError as e:
            assert e.args == ("in the thread",)
        else:
            raise AssertionError("the error was lost")
    assert await in_daemon_thread(lambda: 7) == 7


def test_submit_gives_a_concurrent_future_with_the_result_or_the_error() -> None:
    pool = DaemonPool(1, "future-pool")
    assert pool.submit(pow, 2, 10).result(timeout=30) == 1024
    failed = pool.submit(int, "not a number")
    assert isinstance(failed.exception(timeout=30), ValueError)
    pool.shutdown(wait=True)


async def test_a_result_for_a_caller_that_gave_up_is_dropped() -> None:
    """The awaiting task was cancelled while its call ran: the late result must not raise in the loop."""
    gate = threading.Event()
    call = in_daemon_thread(gate.wait, 30)
    call.cancel()
    gate.set()
    assert await in_daemon_thread(lambda: "next") == "next"
    assert call.cancelled()


# run_in_daemon_thread: a short blocking wait first, then an ordinary await


async def test_a_quick_call_runs_on_a_daemon_thread_in_the_callers_context_and_reuses_it() -> None:
    import contextvars

    from lllm.core import aio

    var: contextvars.ContextVar[str] = contextvars.ContextVar("quick_var", default="unset")
    var.set("caller's")
    await run_in_daemon_thread(time.sleep, 0)
    before = len(aio._calls._threads)  # the shared pool may hold idle threads from earlier calls
    seen = [await run_in_daemon_thread(lambda: (threading.current_thread(), var.get())) for _ in range(20)]
    assert all(t.daemon and t.name.startswith("lllm-call") and v == "caller's" for t, v in seen)
    assert threading.current_thread() not in {t for t, _ in seen}
    assert len(aio._calls._threads) == before  # a thread is idle before its caller hears: the next call finds it


async def test_a_slow_call_holds_the_loop_up_for_quick_s_at_most() -> None:
    ticks: list = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    running = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    try:
        assert await run_in_daemon_thread(lambda: time.sleep(0.3) or "slept") == "slept"
    finally:
        running.cancel()
    assert len(ticks) >= 20  # the loop ran on while the call slept in its thread
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.15


async def test_errors_come_back_from_both_paths() -> None:
    def quick() -> None:
        raise KeyError("quick")

    def slow() -> None:
        time.sleep(0.05)
        raise KeyError("slow")

    for fn, word in ((quick, "quick"), (slow, "slow")):
        try:
            await run_in_daemon_thread(fn)
        except KeyError as e:
            assert e.args == (word,)
        else:
            raise AssertionError("no error")


async def test_calls_ending_around_the_quick_wait_each_answer_once(monkeypatch) -> None:
    """Calls whose length straddles QUICK_S: whichever side of the wait they end on, each gets its own answer,
    once, and none hangs."""
    import random

    from lllm.core import aio

    monkeypatch.setattr(aio, "QUICK_S", 0.001)
    rng = random.Random(3)

    def work(i: int, spin: float) -> int:
        end = time.perf_counter() + spin
        while time.perf_counter() < end:
            pass
        return i

    answers = []
    for i in range(300):
        answers.append(await run_in_daemon_thread(work, i, rng.uniform(0.0, 0.002)))
    assert answers == list(range(300))
    many = await asyncio.gather(*(run_in_daemon_thread(work, i, rng.uniform(0.0, 0.002)) for i in range(100)))
    assert many == list(range(100))
