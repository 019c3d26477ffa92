"""One runner per batch task: real processes resuming the same ``batch_id`` against one store.

Every task execution is appended (``O_APPEND``) to a shared log as ``<pid> <task>``, so the tests count
who ran what. PostgreSQL cases run when ``LLLM_TEST_POSTGRES_DSN`` names a server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest

from lllm import Tactic
from lllm.core import batch
from lllm.logging import LogStoreError, local_store, noop_store, postgres_store, sqlite_store
from lllm.logging.batch_leases import BatchLeases

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_DSN = os.environ.get("LLLM_TEST_POSTGRES_DSN")

RUNNER = textwrap.dedent("""
    import asyncio, json, os, sys, time
    sys.path.insert(0, sys.argv[2])
    from lllm import Tactic
    from lllm.logging import local_store, postgres_store, sqlite_store

    cfg = json.loads(sys.argv[1])
    opener = {"sqlite": sqlite_store, "json": local_store, "postgres": postgres_store}[cfg["kind"]]
    store = opener(cfg["where"], partition=cfg["partition"])

    def record(task):
        fd = os.open(cfg["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{os.getpid()} {task}\\n".encode())
        os.close(fd)

    def hold(task):
        if task == cfg.get("hold"):
            while not os.path.exists(cfg["release"]):
                time.sleep(0.02)
        else:
            time.sleep(cfg.get("pause", 0.0))

    class Probe(Tactic, register=False):
        name = "lease_probe"
        def call(self, task):
            record(task)
            hold(task)
            return task.upper()

    class AsyncProbe(Tactic, register=False):
        name = "lease_probe"
        async def call(self, task):
            record(task)
            await asyncio.to_thread(hold, task)
            return task.upper()

    while cfg.get("start") and not os.path.exists(cfg["start"]):
        time.sleep(0.01)
    tactic = (AsyncProbe if cfg.get("async") else Probe)({}, log_store=store)
    out = tactic.bcall(cfg["tasks"], batch_id=cfg["batch"], max_workers=cfg.get("workers", 2),
                       lease_ttl=cfg["ttl"])
    print(json.dumps(out))
""")


@pytest.fixture(params=["sqlite", "json", "postgres"])
def kind(request):
    if request.param == "postgres":
        if not POSTGRES_DSN:
            pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
        pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'lllm[postgres]')")
    return request.param


class Batch:
    """One shared store, log and set of tasks; ``spawn`` starts a runner process on them."""

    def __init__(self, tmp: Path, kind: str, n: int = 5, ttl: float = 5.0):
        self.tmp, self.kind, self.ttl = tmp, kind, ttl
        self.where = {"sqlite": str(tmp / "s.db"), "json": str(tmp / "store"), "postgres": POSTGRES_DSN}[kind]
        self.partition = f"p{uuid.uuid4().hex[:12]}"  # a fresh partition per test, also on a shared server
        self.log, self.release = tmp / "runs.log", tmp / "release"
        self.tasks = [f"t{i:02d}" for i in range(n)]
        self.procs: List[subprocess.Popen] = []

    def spawn(self, **cfg: Any) -> subprocess.Popen:
        cfg = {
            "kind": self.kind,
            "where": self.where,
            "partition": self.partition,
            "log": str(self.log),
            "release": str(self.release),
            "tasks": self.tasks,
            "batch": "nightly",
            "ttl": self.ttl,
            **cfg,
        }
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, json.dumps(cfg), str(ROOT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen) -> List[str]:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def runs(self) -> List[tuple]:
        """``(pid, task)`` for every execution so far."""
        if not self.log.exists():
            return []
        return [tuple(line.split()) for line in self.log.read_text().splitlines()]

    def wait_for(self, predicate: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; runs: {self.runs()}"
            assert all(p.poll() is None for p in self.procs), (
                f"a runner exited early: {[p.communicate()[1] for p in self.procs if p.poll() is not None]}"
            )
            time.sleep(0.02)

    def store(self) -> Any:
        opener = {"sqlite": sqlite_store, "json": local_store, "postgres": postgres_store}[self.kind]
        return opener(self.where, partition=self.partition)

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.fixture
def batch_factory(tmp_path):
    made: List[Batch] = []

    def make(kind: str, **kw: Any) -> Batch:
        made.append(Batch(tmp_path, kind, **kw))
        return made[-1]

    yield make
    for b in made:
        b.cleanup()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_two_processes_on_one_batch_run_every_task_exactly_once(batch_factory, kind, mode):
    b = batch_factory(kind, n=40)
    start = b.tmp / "start"
    procs = [b.spawn(start=str(start), pause=0.05, workers=3, **{"async": mode == "async"}) for _ in range(2)]
    start.touch()
    expected = [t.upper() for t in b.tasks]
    assert [b.finish(p) for p in procs] == [expected, expected]  # both end with every result
    runs = b.runs()
    assert Counter(task for _, task in runs) == Counter(b.tasks), runs  # each task ran once, across both
    assert {pid for pid, _ in runs} == {str(p.pid) for p in procs}  # and both really ran tasks
    store = b.store()
    successes = store.list_sessions(tags={"lllm.batch_id": "nightly"}, state="success", limit=None)
    assert sorted(s.tags["lllm.batch_index"] for s in successes) == sorted(str(i) for i in range(40))
    leases = BatchLeases(store, "nightly")
    assert all(store.get_lease(leases.lease_name(i)) is None for i in range(40))  # all released
    ids = {s.session_id for s in successes}
    assert {store.batch_task("nightly", i)["session_id"] for i in range(40)} == ids  # each noted as done
    store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"], indirect=True)
def test_a_live_runner_keeps_its_task_longer_than_the_lease_ttl(batch_factory, kind):
    """The holder renews its lease while the task runs, so a waiting runner never takes it over."""
    b = batch_factory(kind, n=3, ttl=0.6)
    a = b.spawn(hold="t00", workers=1)
    b.wait_for(lambda: ("%d" % a.pid, "t00") in b.runs(), "runner A to start t00")
    second = b.spawn(workers=1)
    b.wait_for(lambda: {("%d" % second.pid, t) for t in ("t01", "t02")} <= set(b.runs()), "runner B to do t01, t02")
    store = b.store()
    name = BatchLeases(store, "nightly").lease_name(0)
    first = store.get_lease(name)
    assert first is not None and first.holder.split("/")[1] == str(a.pid)
    # B now waits for t00; let several lease lifetimes pass, observed through A's renewals.
    b.wait_for(lambda: store.get_lease(name).expires_at > first.expires_at + 4 * b.ttl, "four renewals by A")
    b.release.touch()
    expected = ["T00", "T01", "T02"]
    assert b.finish(a) == expected and b.finish(second) == expected
    assert sorted(b.runs()) == sorted([(str(a.pid), "t00"), (str(second.pid), "t01"), (str(second.pid), "t02")])
    store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"], indirect=True)
def test_a_runner_killed_mid_batch_is_taken_over_at_once_on_the_same_machine(batch_factory, kind):
    """kill -9 while a task runs: its lease (ttl 10 min) names a process that is gone, so a resumer
    takes the task over without waiting, and runs it again (at-least-once)."""
    b = batch_factory(kind, n=5, ttl=600.0)
    a = b.spawn(hold="t02", workers=1)
    b.wait_for(lambda: ("%d" % a.pid, "t02") in b.runs(), "runner A to start t02")
    os.kill(a.pid, signal.SIGKILL)
    a.communicate()
    resumer = b.spawn(workers=1)
    assert b.finish(resumer) == [t.upper() for t in b.tasks]
    by = {(pid, task) for pid, task in b.runs()}
    assert by == {
        (str(a.pid), "t00"),
        (str(a.pid), "t01"),
        (str(a.pid), "t02"),
        (str(resumer.pid), "t02"),
        (str(resumer.pid), "t03"),
        (str(resumer.pid), "t04"),
    }


@pytest.mark.parametrize("kind", ["sqlite", "postgres"], indirect=True)
def test_the_lease_of_a_stalled_then_killed_runner_expires_and_a_resumer_takes_over(batch_factory, kind):
    """A runner is frozen (SIGSTOP: alive, but no longer renewing) in the middle of a task and then
    killed (-9): only the lease's expiry lets the resumer run that task."""
    b = batch_factory(kind, n=5, ttl=1.0)
    a = b.spawn(hold="t02", workers=1)
    b.wait_for(lambda: ("%d" % a.pid, "t02") in b.runs(), "runner A to start t02")
    os.kill(a.pid, signal.SIGSTOP)
    try:
        store = b.store()
        lease = store.get_lease(BatchLeases(store, "nightly").lease_name(2))
        assert lease is not None and lease.holder.split("/")[1] == str(a.pid)
        resumer = b.spawn(workers=1)
        assert b.finish(resumer) == [t.upper() for t in b.tasks]
        assert time.time() > lease.expires_at  # it ran t02 only once A's lease had expired
    finally:
        os.kill(a.pid, signal.SIGKILL)
        a.communicate()
    assert Counter(task for _, task in b.runs()) == Counter({"t00": 1, "t01": 1, "t02": 2, "t03": 1, "t04": 1})
    store.close()


# ---------------------------------------------------------------------------------------------
# In one process
# ---------------------------------------------------------------------------------------------
class Echo(Tactic, register=False):
    name = "echo"
    runs: Dict[str, int] = {}

    def call(self, task: str) -> str:
        Echo.runs[task] = Echo.runs.get(task, 0) + 1
        return task * 2


def test_a_task_held_by_a_runner_elsewhere_waits_for_its_lease(tmp_path):
    """A lease held by a runner on another machine is respected until it expires, then taken over."""
    store = sqlite_store(tmp_path / "s.db")
    name = BatchLeases(store, "b").lease_name(1)
    assert store.acquire_lease(name, "elsewhere:ns/4242/abc", 0.5)
    Echo.runs = {}
    assert Echo({}, log_store=store).bcall(["a", "b", "c"], batch_id="b", lease_ttl=0.5) == ["aa", "bb", "cc"]
    assert Echo.runs == {"a": 1, "b": 1, "c": 1} and store.get_lease(name) is None


def test_batches_need_a_store_that_keeps_leases_and_a_valid_ttl(tmp_path):
    with pytest.raises(LogStoreError, match="no-op store"):
        Echo({}, log_store=noop_store()).bcall(["a"], batch_id="x")
    for bad in (0, -1, float("nan"), "10"):
        with pytest.raises(ValueError, match="lease_ttl"):
            Echo({}, log_store=sqlite_store(tmp_path / "s.db")).bcall(["a"], batch_id="x", lease_ttl=bad)
    Echo.runs = {}
    assert Echo({}, log_store=noop_store()).bcall(["a", "b"]) == ["aa", "bb"]  # no batch_id: no store needed


def test_a_task_noted_done_is_not_run_again_unless_its_session_was_deleted(tmp_path):
    store = sqlite_store(tmp_path / "s.db")
    Echo.runs = {}
    tactic = Echo({}, log_store=store)
    assert tactic.bcall(["a", "b"], batch_id="b") == ["aa", "bb"]
    first = store.batch_task("b", 1)["session_id"]
    # The note is what a runner that started earlier (before "b" succeeded) reads after taking the lease:
    assert batch.recorded(tactic, "b", ["a", "b"], 1, False) == "bb" and Echo.runs == {"a": 1, "b": 1}
    with pytest.raises(ValueError, match="different task at index 1"):
        batch.recorded(tactic, "b", ["a", "z"], 1, False)
    store.delete_session(first)
    assert tactic.bcall(["a", "b"], batch_id="b") == ["aa", "bb"] and Echo.runs == {"a": 1, "b": 2}
    assert store.batch_task("b", 1)["session_id"] != first


def test_fail_fast_does_not_wait_for_a_task_another_runner_holds(tmp_path):
    """The first failure cancels a task whose lease is held elsewhere, even when the "held" answer
    comes back after the failure."""
    import threading

    from lllm.logging import LogStore, SQLiteBackend

    failed = threading.Event()

    class SlowToRefuse(LogStore):
        def save_session(self, session: Any, *args: Any, **kw: Any) -> str:
            session_id = super().save_session(session, *args, **kw)
            if session.state == "failure":
                failed.set()
            return session_id

        def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
            taken = super().acquire_lease(name, holder, ttl)
            if not taken:
                failed.wait(10)
                time.sleep(0.2)  # let the failure reach the batch first
            return taken

    class Boom(Tactic, register=False):
        name = "boom"

        def call(self, task: str) -> str:
            if task == "boom":
                raise RuntimeError("boom")
            return task

    store = SlowToRefuse(SQLiteBackend(tmp_path / "s.db"))
    assert store.acquire_lease(BatchLeases(store, "b").lease_name(1), "elsewhere:ns/4242/abc", 600)
    outcome: List[BaseException] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            pytest.raises(
                RuntimeError, Boom({}, log_store=store).bcall, ["boom", "held"], batch_id="b", max_workers=2
            ).value
        )
    )
    worker.start()
    worker.join(30)
    assert not worker.is_alive() and str(outcome[0]) == "boom"
