"""Running many tasks of a tactic (``Tactic.bcall``/``ccall``): in a thread pool, on the event loop, or on
another backend; durable batches (``batch_id``) skip the tasks recorded as done and run each under a lease."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures as cf
import contextvars
import functools
import hashlib
import inspect
import json
import logging
import time
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Coroutine,
    Deque,
    Dict,
    Generator,
    List,
    NamedTuple,
    Optional,
    Tuple,
)

from pydantic import BaseModel

from lllm.core import wiring
from lllm.core.aio import DaemonPool, run_sync_to_end

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import BatchLeasesLike
    from lllm.core.sessions import TacticCallSession
    from lllm.core.tactic import Tactic

logger = logging.getLogger("lllm.tactic")

_BUSY = object()  # a batch task whose lease another runner holds
MISSING = object()
"""A batch task no runner has recorded as done."""

_Running = Dict["asyncio.Future[Tuple[int, Any]]", int]


class Options(NamedTuple):
    """What every task of one ``bcall``/``ccall`` runs with."""

    tags: Optional[Dict[str, str]]
    metadata: Optional[Dict[str, Any]]
    return_sessions: bool
    batch_id: Optional[str]
    lease_ttl: float
    kw: Dict[str, Any]


def task_md5(task: Any) -> str:
    """A fingerprint of a task, recorded with its session to tell a batch's tasks apart."""
    text = task.model_dump_json() if isinstance(task, BaseModel) else json.dumps(task, sort_keys=True, default=str)
    return hashlib.md5(text.encode()).hexdigest()


def batch_tags(
    tags: Optional[Dict[str, str]], batch_id: Optional[str], index: int, task: Any
) -> Optional[Dict[str, str]]:
    """A batch task's tags: the caller's plus the batch id, the index and a fingerprint of the task."""
    if batch_id is None:
        return tags
    return {**(tags or {}), "lllm.batch_id": batch_id, "lllm.batch_index": str(index), "lllm.task_md5": task_md5(task)}


def workers(tactic: Tactic, max_workers: Optional[int]) -> int:
    """``max_workers``, else the tactic's; ``ValueError`` unless an integer >= 1."""
    n = tactic.max_workers if max_workers is None else max_workers
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"max_workers must be an integer >= 1, got {n!r}")
    return n


def _check_task(tactic: Tactic, batch_id: str, i: int, recorded_md5: Any, task: Any) -> None:
    """``ValueError`` if the batch was recorded with another task at index ``i``."""
    if recorded_md5 != task_md5(task):
        raise ValueError(
            f"Tactic '{tactic.name}': batch '{batch_id}' was recorded with a different task at "
            f"index {i}; use a new batch_id for a new list of tasks."
        )


def done_results(tactic: Tactic, batch_id: str, tasks: List[Any], return_sessions: bool) -> Dict[int, Any]:
    """Results of a batch's tasks that already succeeded, read back from the log store."""
    if tactic.log_store is None:
        raise ValueError(f"Tactic '{tactic.name}': batch_id needs a log_store to record the batch's progress")
    done: Dict[int, Any] = {}
    for summary in tactic.log_store.list_sessions(tags={"lllm.batch_id": batch_id}, state="success", limit=None):
        i = int(summary.tags.get("lllm.batch_index", -1))
        if not 0 <= i < len(tasks) or i in done:
            continue
        _check_task(tactic, batch_id, i, summary.tags.get("lllm.task_md5"), tasks[i])
        session = tactic.log_store.load_session(summary.session_id)
        done[i] = session if return_sessions else tactic._coerce_output(session.delivery)
    return done


def recorded(tactic: Tactic, batch_id: str, tasks: List[Any], i: int, return_sessions: bool) -> Any:
    """Task ``i``'s result if a runner recorded it as done (one read), else ``MISSING``."""
    note = tactic._store.batch_task(batch_id, i)
    if note is None:
        return MISSING
    _check_task(tactic, batch_id, i, note.get("task_md5"), tasks[i])
    try:
        session = tactic._store.load_session(note["session_id"])
    except KeyError:  # its session was deleted since: run the task again
        return MISSING
    return session if return_sessions else tactic._coerce_output(session.delivery)


def record_finished(
    tactic: Tactic, batch_id: str, i: int, task: Any, session: TacticCallSession, return_sessions: bool
) -> Any:
    """Record for other runners that task ``i`` succeeded; its result as the batch returns it."""
    if session.session_id:  # saved (saving never masks the outcome, so it may have failed)
        try:
            tactic._store.record_batch_task(batch_id, i, session.session_id, task_md5(task))
        except Exception:  # noqa: BLE001 - without the note, a concurrent runner may run the task again
            logger.warning("tactic %s: recording batch task %d as done failed", tactic.name, i, exc_info=True)
    return session if return_sessions else session.delivery


# ---------------------------------------------------------------------------------------------
# bcall: results in input order
# ---------------------------------------------------------------------------------------------
def bcall(
    tactic: Tactic,
    tasks: List[Any],
    max_workers: Optional[int],
    fail_fast: bool,
    backend: str,
    backend_options: Optional[Dict[str, Any]],
    o: Options,
) -> List[Any]:
    """``Tactic.bcall``: a sync tactic runs in a thread pool, an async one through ``ccall``."""
    n = workers(tactic, max_workers)
    tasks = list(tasks)
    if not tasks:
        return []
    if backend != "local":
        return _remote_batch(tactic, tasks, backend, backend_options, fail_fast, max_workers, o)
    if inspect.iscoroutinefunction(tactic.call):
        return run_sync_to_end(_gather(tactic, tasks, n, fail_fast, o))  # interrupted, calls still save
    out: List[Any] = [None] * len(tasks)
    done = done_results(tactic, o.batch_id, tasks, o.return_sessions) if o.batch_id else {}
    for i, value in done.items():
        out[i] = value
    todo = collections.deque(i for i in range(len(tasks)) if i not in done)
    if not todo:
        return out
    leases = wiring.services.batch_leases(tactic.log_store, o.batch_id, o.lease_ttl) if o.batch_id else None
    one = _thread_task(tactic, tasks, leases, o)
    pool = DaemonPool(min(n, len(todo)), f"lllm-{tactic.name}")
    try:
        first_error = _run_pool(pool, one, todo, out, n, fail_fast, leases)
    finally:
        # Done, or interrupted (Ctrl-C): the calls not started are cancelled and a running one is abandoned,
        # not waited for (a thread cannot be stopped; its daemon thread does not hold up the process's exit)
        pool.shutdown(wait=False, cancel_futures=True)
        if leases is not None:
            leases.close()  # releases the leases of abandoned calls too: a rerun resumes the batch
    if first_error is not None:
        raise first_error
    return out


def _thread_task(
    tactic: Tactic, tasks: List[Any], leases: Optional[BatchLeasesLike], o: Options
) -> Callable[[int], Any]:
    """What a pool thread runs for task ``i``: the call, under a lease in a durable batch."""
    tags, metadata, return_sessions, batch_id, _, kw = o

    def one(i: int) -> Any:
        args = (tasks[i], None, batch_tags(tags, batch_id, i, tasks[i]), {**(metadata or {}), "batch_index": i})
        if leases is None or batch_id is None:
            return tactic.__call__(*args, return_sessions, **kw)
        if not leases.take(i):
            return _BUSY
        try:
            found = recorded(tactic, batch_id, tasks, i, return_sessions)
            if found is not MISSING:  # another runner finished it since this batch started
                return found
            return record_finished(tactic, batch_id, i, tasks[i], tactic.__call__(*args, True, **kw), return_sessions)
        finally:
            leases.release(i)

    return one


def _run_pool(
    ex: cf.Executor,
    one: Callable[[int], Any],
    todo: Deque[int],
    out: List[Any],
    n: int,
    fail_fast: bool,
    leases: Optional[BatchLeasesLike],
) -> Optional[BaseException]:
    """Run ``todo`` on ``ex``, ``n`` at a time, into ``out``; the failure that stopped it with ``fail_fast``."""
    later: List[Tuple[float, int]] = []  # (when, index): tasks another runner holds, to try again
    first_error: Optional[BaseException] = None
    running: Dict[cf.Future[Any], int] = {}
    while todo or running or later:
        now = time.monotonic()
        todo.extend(i for when, i in later if when <= now)
        later = [(when, i) for when, i in later if when > now]
        while todo and len(running) < n:
            i = todo.popleft()
            running[ex.submit(contextvars.copy_context().run, one, i)] = i
        wait = max(0.0, min(when for when, _ in later) - now) if later else None
        if not running:
            time.sleep(wait or 0.0)
            continue
        finished, _ = cf.wait(running, timeout=wait, return_when=cf.FIRST_COMPLETED)
        for f in finished:
            i = running.pop(f)
            exc = f.exception()
            if exc is None and f.result() is _BUSY:
                assert leases is not None  # only a task under a lease is ever busy
                if first_error is None:  # else it is cancelled like the tasks not yet started
                    later.append((time.monotonic() + leases.retry_after, i))
                continue
            out[i] = exc if exc is not None else f.result()
            if exc is not None and fail_fast and first_error is None:
                first_error = exc
                todo.clear()  # tasks not yet started are cancelled
                later.clear()
    return first_error


async def _gather(tactic: Tactic, tasks: List[Any], n: int, fail_fast: bool, o: Options) -> List[Any]:
    """``bcall`` of an async tactic: ``ccall``'s results in input order."""
    out: List[Any] = [None] * len(tasks)
    async for i, res in _local_stream(tactic, tasks, n, not fail_fast, o, finish_running=fail_fast):
        out[i] = res
    return out


# ---------------------------------------------------------------------------------------------
# ccall: results in completion order
# ---------------------------------------------------------------------------------------------
def ccall(
    tactic: Tactic,
    tasks: List[Any],
    max_workers: Optional[int],
    return_exceptions: bool,
    backend: str,
    backend_options: Optional[Dict[str, Any]],
    o: Options,
) -> AsyncIterator[Tuple[int, Any]]:
    """``Tactic.ccall``: ``(index, result)`` in completion order, on this event loop or on ``backend``."""
    if backend != "local":
        return _remote_stream(tactic, tasks, max_workers, return_exceptions, backend, backend_options, o)
    return _local_stream(tactic, tasks, max_workers, return_exceptions, o)


async def _local_stream(
    tactic: Tactic,
    tasks: List[Any],
    max_workers: Optional[int],
    return_exceptions: bool,
    o: Options,
    finish_running: bool = False,
) -> AsyncIterator[Tuple[int, Any]]:
    """The recorded results first, then each task's as it finishes, at most ``max_workers`` running. A failure
    is raised at once, or with ``finish_running`` (``bcall``'s fail_fast) once the running tasks finish."""
    n = workers(tactic, max_workers)
    sem = asyncio.Semaphore(n)
    tasks = list(tasks)
    leases: Optional[BatchLeasesLike] = None
    running: _Running = {}
    failed: Optional[BaseException] = None  # with finish_running: the first failure, raised at the end
    # A sync tactic runs in threads of its own, as many as workers: asyncio's default pool has only
    # min(32, cores + 4) threads, which would cap the concurrency (and stall the lease calls); daemon
    # threads, so that a call stuck in one does not hold up the process's exit (Ctrl-C)
    pool = None if inspect.iscoroutinefunction(tactic.call) else DaemonPool(n, f"lllm-{tactic.name}")
    try:
        done = await asyncio.to_thread(done_results, tactic, o.batch_id, tasks, o.return_sessions) if o.batch_id else {}
        if o.batch_id and len(done) < len(tasks):
            leases = await asyncio.to_thread(wiring.services.batch_leases, tactic.log_store, o.batch_id, o.lease_ttl)
        for i, value in done.items():
            yield i, value
        one = _loop_task(tactic, tasks, sem, pool, leases, o)
        todo = iter([i for i in range(len(tasks)) if i not in done])

        def start(k: int) -> None:  # a task per run in flight, not per run: the rest start as runs finish
            for _, j in zip(range(k), todo):
                running[asyncio.ensure_future(one(j, tasks[j]))] = j

        start(n)
        while running:
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for f in finished:
                i = running.pop(f)
                # a task cancelled from inside its call (nothing here cancels one) fails like any other
                exc = f.exception() if not f.cancelled() else asyncio.CancelledError(f"batch task {i} was cancelled")
                if exc is not None and finish_running and not return_exceptions and failed is None:
                    failed = exc  # no task starts after it; the running ones finish
                if failed is None:
                    start(1)
                if exc is None and f.result()[1] is _BUSY:  # held by another runner: come back later
                    assert leases is not None  # only a task under a lease is ever busy
                    if failed is None:  # else it is cancelled like the tasks not yet started
                        running[asyncio.ensure_future(one(i, tasks[i], leases.retry_after))] = i
                elif exc is None:
                    yield f.result()
                elif return_exceptions:
                    yield i, exc
                elif failed is None:
                    raise exc
        if failed is not None:
            raise failed
    finally:
        await _stop(running, leases, pool)


def _loop_task(
    tactic: Tactic,
    tasks: List[Any],
    sem: asyncio.Semaphore,
    pool: Optional[DaemonPool],
    leases: Optional[BatchLeasesLike],
    o: Options,
) -> Callable[..., Coroutine[Any, Any, Tuple[int, Any]]]:
    """What ``ccall`` runs for task ``i``: the call under the semaphore, under a lease in a durable batch."""
    tags, metadata, return_sessions, batch_id, _, kw = o

    async def call(i: int, *args: Any) -> Any:
        if pool is None:
            return await tactic.acall(*args, **kw)
        run = functools.partial(tactic.__call__, *args, **kw)
        running = asyncio.get_running_loop().run_in_executor(pool, contextvars.copy_context().run, run)
        if leases is None:
            return await running  # cancelled, a call still running is abandoned
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:  # a thread cannot be stopped: its task keeps its lease until it ends
            if not running.done():
                logger.warning(
                    "tactic %s: batch task %d was cancelled while its call runs in a thread, which cannot be "
                    "stopped; its lease is kept until the call ends (cancel again, e.g. Ctrl-C, to stop waiting)",
                    tactic.name,
                    i,
                )
            await asyncio.wait([running])  # cancelled again: abandoned, its lease released
            raise

    async def one(i: int, t: Any, delay: float = 0.0) -> Tuple[int, Any]:
        await asyncio.sleep(delay)
        async with sem:
            args = (t, None, batch_tags(tags, batch_id, i, t), {**(metadata or {}), "batch_index": i})
            if leases is None or batch_id is None:
                return i, await call(i, *args, return_sessions)
            if not await asyncio.to_thread(leases.take, i):
                return i, _BUSY
            try:
                found = await asyncio.to_thread(recorded, tactic, batch_id, tasks, i, return_sessions)
                if found is not MISSING:  # another runner finished it since this batch started
                    return i, found
                session = await call(i, *args, True)
                return i, await asyncio.to_thread(record_finished, tactic, batch_id, i, t, session, return_sessions)
            finally:
                await asyncio.to_thread(leases.release, i)

    return one


async def _stop(running: _Running, leases: Optional[BatchLeasesLike], pool: Optional[DaemonPool]) -> None:
    """Cancel the runs still going and wait for them; close the thread pool and the leases, also when
    cancelled again while waiting (a second Ctrl-C), which abandons the sync calls still running."""
    for f in running:
        f.cancel()
    try:
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if leases is not None:
            await asyncio.to_thread(leases.close)


# ---------------------------------------------------------------------------------------------
# Other backends (wiring.services.run_batch: lllm.ray)
# ---------------------------------------------------------------------------------------------
def _remote(
    tactic: Tactic, tasks: List[Any], backend: str, options: Optional[Dict[str, Any]], max_workers: Any, o: Options
) -> Generator[Tuple[int, Any], None, None]:
    """A batch on another backend: ``(index, result or exception)`` in completion order."""
    opts = {
        **(options or {}),
        "max_workers": max_workers,
        "tags": o.tags,
        "metadata": o.metadata,
        "return_sessions": o.return_sessions,
        "batch_id": o.batch_id,
        "lease_ttl": o.lease_ttl,
        "kw": o.kw,
    }
    return wiring.services.run_batch(tactic, tasks, backend, opts)


def _remote_batch(
    tactic: Tactic,
    tasks: List[Any],
    backend: str,
    options: Optional[Dict[str, Any]],
    fail_fast: bool,
    max_workers: Any,
    o: Options,
) -> List[Any]:
    """``bcall`` on another backend: results in input order; with ``fail_fast`` the first failure stops it."""
    out: List[Any] = [None] * len(tasks)
    it = _remote(tactic, tasks, backend, options, max_workers, o)
    try:
        for i, value in it:
            if fail_fast and isinstance(value, BaseException):
                raise value
            out[i] = value
    finally:
        it.close()
    return out


async def _remote_stream(
    tactic: Tactic,
    tasks: List[Any],
    max_workers: Optional[int],
    return_exceptions: bool,
    backend: str,
    options: Optional[Dict[str, Any]],
    o: Options,
) -> AsyncIterator[Tuple[int, Any]]:
    """``ccall`` on another backend: its generator driven from worker threads."""
    workers(tactic, max_workers)
    it = _remote(tactic, list(tasks), backend, options, max_workers, o)
    try:
        while (item := await asyncio.to_thread(next, it, None)) is not None:
            if isinstance(item[1], BaseException) and not return_exceptions:
                raise item[1]
            yield item
    finally:
        await asyncio.to_thread(it.close)


__all__ = ["MISSING", "Options", "bcall", "batch_tags", "ccall", "done_results", "recorded", "task_md5", "workers"]
