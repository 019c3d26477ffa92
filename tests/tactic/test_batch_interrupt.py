"""Ctrl-C during ``bcall``/``ccall`` of a sync tactic whose call is stuck: the process exits (it hung joining the
stuck worker thread), finished tasks stay saved, the rest never start, and a durable batch resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from lllm.logging import sqlite_store
from lllm.logging.batch_leases import BatchLeases

TASKS = ["a", "b", "stuck", "c", "d"]

CHILD = """
import asyncio
import json
import logging
import sys
import threading

from lllm import Tactic
from lllm.logging import sqlite_store

logging.basicConfig()  # warnings to stderr
db, how, batch_id, free = sys.argv[1], sys.argv[2], sys.argv[3] or None, sys.argv[4] == "free"
never = threading.Event()


class Waits(Tactic, register=False):
    name = "interrupt_waits"

    def call(self, task: str) -> str:
        print("START", task, flush=True)
        if task == "stuck" and not free:
            never.wait()  # a tool or user code blocked for good
        return task.upper()


tactic = Waits(log_store=sqlite_store(db))
tasks = json.loads(sys.argv[5])
if how == "bcall":
    results = tactic.bcall(tasks, max_workers=1, batch_id=batch_id)
else:

    async def main():
        got = {}
        async for i, value in tactic.ccall(tasks, max_workers=1, batch_id=batch_id):
            got[i] = value
        return [got[i] for i in range(len(tasks))]

    results = asyncio.run(main())
print("RESULTS", json.dumps(results), flush=True)
"""


def run_child(db, how: str, batch_id: str, free: bool) -> subprocess.Popen:
    return subprocess.Popen(
        # faulthandler: a child that hangs is sent SIGABRT and prints every thread's stack (see communicate)
        [sys.executable, "-X", "faulthandler", "-c", CHILD, str(db), how, batch_id, "free" if free else "stuck"]
        + [json.dumps(TASKS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a child of a shell run in the background inherits SIGINT ignored: restore Ctrl-C as in a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def communicate(proc: subprocess.Popen, timeout: float) -> "tuple[str, str]":
    """``proc.communicate(timeout)``; a child still running then fails the test with its threads' stacks."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack, then the child dies
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"the child did not exit within {timeout} s; its stderr and threads:\n{err[-8000:]}")


def saved(store) -> dict:
    """Task -> result of every successful session in the store."""
    out = {}
    for summary in store.list_sessions(state="success", limit=None):
        session = store.load_session(summary.session_id)
        out[TASKS[session.metadata["batch_index"]]] = session.delivery
    return out


@pytest.mark.parametrize("durable", [False, True], ids=["plain", "durable"])
@pytest.mark.parametrize("how", ["bcall", "ccall"])
def test_ctrl_c_stops_a_batch_whose_sync_call_is_stuck(tmp_path, how, durable):
    db = tmp_path / "runs.db"
    batch_id = "interrupted-1" if durable else ""
    proc = run_child(db, how, batch_id, free=False)
    watchdog = threading.Timer(60, proc.kill)  # bounds every read below: a child silent for good is killed
    watchdog.start()
    try:
        started = [proc.stdout.readline().split()[-1] for _ in range(3)]
        assert started == ["a", "b", "stuck"], proc.stderr.read()
        store = sqlite_store(db)
        while len(saved(store)) < 2:  # the finished tasks are recorded
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        if how == "ccall" and durable:  # a cancelled durable ccall waits for its running sync call, which keeps
            while "cancel again" not in (line := proc.stderr.readline()):  # its lease; it says so, and a second
                assert line, "the child exited without saying what it waits for"  # Ctrl-C stops the wait
            proc.send_signal(signal.SIGINT)
        out, err = communicate(proc, 20)  # a hang guard: the stuck call blocks forever
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, err
    assert "START" not in out and "RESULTS" not in out  # no task started after the stuck one
    assert saved(store) == {"a": "A", "b": "B"}  # what finished is saved and readable
    if not durable:
        return
    lease = BatchLeases(store, batch_id).lease_name(TASKS.index("stuck"))
    assert store.get_lease(lease) is None  # released: any runner can take the task
    rerun = run_child(db, how, batch_id, free=True)
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    lines = out.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("START")] == ["stuck", "c", "d"]  # resumed
    assert json.loads(lines[-1].removeprefix("RESULTS ")) == [t.upper() for t in TASKS]
    assert len(store.list_sessions(tags={"lllm.batch_id": batch_id}, state="success", limit=None)) == len(TASKS)


ASYNC_CHILD = """
import sys
import threading

from lllm import Tactic
from lllm.core.message import FunctionCall
from lllm.core.dialog import Dialog
from lllm.core.tools import tool
from lllm.invokers.base import BaseInvoker
from lllm.logging import sqlite_store

never = threading.Event()


class StuckInvoker(BaseInvoker):  # a custom sync invoker: its default acall runs call off the loop
    def call(self, *args, **kw):
        print("STUCK", flush=True)
        never.wait()


@tool
def blocked() -> str:
    print("STUCK", flush=True)
    never.wait()
    return "never"


class Stuck(Tactic, register=False):
    name = "interrupt_stuck"

    def call(self, task: str) -> str:
        print("STUCK", flush=True)
        never.wait()
        return task


class Outer(Tactic, register=False):
    name = "interrupt_outer"

    async def call(self, task: str) -> str:
        if sys.argv[2] == "tool":  # a sync tool run off the loop by an async caller
            return (await blocked.acall(FunctionCall(id="c1", name="blocked", arguments={}))).result
        if sys.argv[2] == "invoker":
            return str(await StuckInvoker().acall(Dialog(), "stuck/model"))
        return await Stuck().acall(task)  # a sync tactic awaited from an async one


Outer(log_store=sqlite_store(sys.argv[1]))("x")
"""


@pytest.mark.parametrize("what", ["tool", "sync_tactic", "invoker"])
def test_ctrl_c_exits_while_an_async_tactic_awaits_a_stuck_sync_call(tmp_path, what):
    """A sync tool, sync tactic or sync invoker's call awaited from an async tactic ran in asyncio's default pool, whose threads the
    interpreter joins at exit: after Ctrl-C the process hung until the stuck call ended."""
    db = tmp_path / "runs.db"
    proc = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-c", ASYNC_CHILD, str(db), what],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline().strip() == "STUCK", proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        _, err = communicate(proc, 20)  # a hang guard: the stuck call blocks forever
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, err
    outer = [s.state for s in sqlite_store(db).list_sessions(limit=None) if s.tactic_name == "interrupt_outer"]
    assert outer == ["failure"]  # the interrupted call still saved its session


def test_the_daemon_pool_runs_at_most_its_workers_and_shutdown_cancels_the_calls_not_started():
    import threading

    from lllm.core.aio import DaemonPool

    gate, entered = threading.Event(), threading.Semaphore(0)

    def blocked(i: int) -> int:
        entered.release()
        gate.wait(30)
        return i

    pool = DaemonPool(2, "s7-pool")
    futures = [pool.submit(blocked, i) for i in range(4)]
    assert entered.acquire(timeout=30) and entered.acquire(timeout=30)
    threads = [t for t in threading.enumerate() if t.name.startswith("s7-pool-")]
    assert len(threads) == 2 and all(t.daemon for t in threads)  # exit does not wait for them
    pool.shutdown(wait=False, cancel_futures=True)
    assert [f.cancelled() for f in futures] == [False, False, True, True]
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(blocked, 9)
    gate.set()
    assert [f.result(timeout=30) for f in futures[:2]] == [0, 1]
    pool.shutdown(wait=True)  # the idle threads stop
    assert not any(t.is_alive() for t in threads)
