"""One served call: the shared state of the server, the limits it runs under, and how a call is started."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional, Set, Tuple

from aiohttp import web

from lllm.core.aio import in_daemon_thread
from lllm.core.events import Listener, observe
from lllm.core.tactic import use_model
from lllm.errors import AgentCallError
from lllm.serve.metrics import Metrics
from lllm.serve.tactics import ServedTactic


@dataclass
class Limits:
    """Operational limits: body size, per-call timeout, calls in flight, batch jobs running, shutdown drain time,
    and how many finished batch jobs are kept in memory and for how long (the store answers for the others)."""

    max_body_bytes: int = 1 << 20
    timeout_s: float = 300.0
    max_concurrency: int = 64
    max_jobs: int = 16
    retry_after_s: int = 1
    drain_s: float = 30.0
    keep_jobs: int = 1000
    keep_jobs_s: float = 3600.0


class Jobs:
    """Batch jobs by id: every running one, and the finished ones until more than ``keep`` have finished
    since or ``ttl_s`` seconds of ``clock`` have passed; the oldest-finished go first."""

    def __init__(self, keep: int = 1000, ttl_s: float = 3600.0, clock: Callable[[], float] = time.time):
        self.keep, self.ttl_s, self.clock = keep, ttl_s, clock
        self._jobs: Dict[str, Dict[str, Any]] = {}
        self._finished: "OrderedDict[str, float]" = OrderedDict()  # id -> when it ended, oldest first

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._jobs))

    def get(self, job_id: str) -> Optional[Dict[str, Any]]:
        """The job, unless it finished too long ago (or is unknown here)."""
        self.prune()
        return self._jobs.get(job_id)

    def running(self) -> int:
        """Jobs started and not finished."""
        return len(self._jobs) - len(self._finished)

    def start(self, job: Dict[str, Any]) -> None:
        """Keep ``job`` (running) until it finishes; it replaces a finished job of the same id."""
        self.prune()
        self._finished.pop(job["job_id"], None)
        self._jobs[job["job_id"]] = job

    def finish(self, job: Dict[str, Any]) -> None:
        """Note that ``job`` ended now; it is kept among the finished from here."""
        job["ended_at"] = self.clock()
        if self._jobs.get(job["job_id"]) is job:
            self._finished[job["job_id"]] = job["ended_at"]
            self._finished.move_to_end(job["job_id"])
        self.prune()

    def prune(self) -> None:
        """Drop the oldest-finished jobs past the count or the age limit."""
        oldest = self.clock() - self.ttl_s
        while self._finished:
            job_id, ended = next(iter(self._finished.items()))
            if len(self._finished) <= self.keep and ended > oldest:
                return
            del self._finished[job_id]
            del self._jobs[job_id]


Outcome = Tuple[Dict[str, Any], float]  # a task's result entry and when its session ended


class TaskOutcomes:
    """The task outcomes of the last ``keep`` jobs answered from the store, by session id: a finished session does
    not change, so answering such a job again (a client polling it) loads only the sessions it has not read."""

    def __init__(self, keep: int = 16):
        self.keep = keep
        self._lock = threading.Lock()  # read and filled from worker threads
        self._jobs: "OrderedDict[str, Dict[str, Outcome]]" = OrderedDict()

    def of(self, job_id: str) -> Dict[str, Outcome]:
        """The outcomes read for ``job_id`` last time (empty if none)."""
        with self._lock:
            return self._jobs.get(job_id, {})

    def put(self, job_id: str, outcomes: Dict[str, Outcome]) -> None:
        """Keep ``outcomes`` (those of the job's latest answer) in place of the job's earlier ones."""
        with self._lock:
            self._jobs[job_id] = outcomes
            self._jobs.move_to_end(job_id)
            while len(self._jobs) > self.keep:
                self._jobs.popitem(last=False)


@dataclass
class State:
    """Everything the handlers share."""

    tactics: Dict[str, ServedTactic]
    store: Any = None
    token: Optional[str] = None
    limits: Limits = field(default_factory=Limits)
    metrics: Metrics = field(default_factory=Metrics)
    in_flight: Set["asyncio.Future[Any]"] = field(default_factory=set)
    jobs: Jobs = field(default_factory=Jobs)
    outcomes: TaskOutcomes = field(default_factory=TaskOutcomes)
    job_tasks: Set["asyncio.Task[Any]"] = field(default_factory=set)
    draining: bool = False


STATE: web.AppKey[State] = web.AppKey("lllm_serve_state", State)


def start_call(
    state: State, t: ServedTactic, task: Any, tactic: Any = None, on_event: Optional[Listener] = None
) -> "asyncio.Future[Any]":
    """Run the call in a task counted in flight until it really ends (a timed-out sync call too);
    ``on_event`` receives its live events."""
    target, meta = tactic or t.tactic, {"served_by": "lllm serve"}
    native = inspect.iscoroutinefunction(target.call)
    with use_model(t.model), observe(on_event):  # the task copies this context: agents and sub-tactics too
        if native:
            work: asyncio.Future[Any] = asyncio.ensure_future(target.acall(task, return_session=True, metadata=meta))
        else:  # a thread cannot be stopped: cancelling the call must not end what counts it in flight
            work = in_daemon_thread(target.__call__, task, metadata=meta, return_session=True)
    fut = work if native else asyncio.shield(work)
    state.in_flight.add(work)
    state.metrics.in_flight = len(state.in_flight)

    def retrieved(f: "asyncio.Future[Any]") -> None:
        if not f.cancelled():
            f.exception()  # retrieved: a failure is answered, not logged as "never retrieved"

    def done(f: "asyncio.Future[Any]") -> None:
        state.in_flight.discard(f)
        state.metrics.in_flight = len(state.in_flight)
        retrieved(f)

    work.add_done_callback(done)
    if fut is not work:
        fut.add_done_callback(retrieved)
    return fut


def failure_body(t: ServedTactic, e: BaseException) -> Dict[str, Any]:
    body: Dict[str, Any] = {"error": f"Tactic '{t.name}' failed: {type(e).__name__}: {e}", "type": type(e).__name__}
    if isinstance(e, AgentCallError):
        body["reason"] = e.reason
    return body


__all__ = ["Limits", "Jobs", "State", "STATE", "start_call", "failure_body"]
