"""The one background event loop that runs LLLM's async core for its synchronous API.

Sync wrappers (``agent.respond()``, ``tactic(task)``, ``invoker.call``) submit coroutines here, so
connection pools live on one long-lived loop and are reused across agents, threads and calls,
and the sync API works even when called from inside another running event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import contextvars
import functools
import itertools
import queue
import sys
import threading
from typing import Any, Awaitable, Callable, Coroutine, List, Optional, ParamSpec, Tuple, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

_lock = threading.Lock()
_calls: Optional["DaemonPool"] = None  # in_daemon_thread's threads
_loop: Optional[asyncio.AbstractEventLoop] = None
_thread: Optional[threading.Thread] = None


if sys.version_info >= (3, 11):
    timeout_at = asyncio.timeout_at  # unlike asyncio.wait_for before 3.12, it never swallows a cancellation
else:  # pragma: no cover - Python 3.10

    class _Timeout(TimeoutError, asyncio.TimeoutError):
        """On 3.10 the builtin and asyncio's TimeoutError differ; 3.11 made them one. This is both."""

    class timeout_at:
        """``asyncio.timeout_at`` for Python 3.10: TimeoutError once ``loop.time()`` passes ``deadline``."""

        def __init__(self, deadline: float) -> None:
            self.deadline, self.fired = deadline, False

        async def __aenter__(self) -> None:
            task = asyncio.current_task()
            assert task is not None
            self.timer = asyncio.get_running_loop().call_at(self.deadline, self._fire, task)

        def _fire(self, task: "asyncio.Task[Any]") -> None:
            self.fired = True
            task.cancel()

        async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> None:
            self.timer.cancel()
            if self.fired and kind is asyncio.CancelledError:
                raise _Timeout() from exc


async def within(aw: Awaitable[T], seconds: float) -> T:
    """``await aw``, TimeoutError after ``seconds``. Unlike ``asyncio.wait_for`` before Python 3.12, a
    cancellation that arrives as ``aw`` finishes is never swallowed (the caller is cancelled, not answered)."""
    async with timeout_at(asyncio.get_running_loop().time() + seconds):
        return await aw


def background_loop() -> asyncio.AbstractEventLoop:
    """The shared loop, started on first use in a daemon thread."""
    global _loop, _thread
    loop = _loop
    if loop is not None and not loop.is_closed():
        return loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_serve, args=(_loop,), name="lllm-loop", daemon=True)
            _thread.start()
        return _loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` until it is stopped. A SystemExit or KeyboardInterrupt raised by user code in one of its
    tasks (a stream handler, a tool, an async tactic) leaves ``run_forever``; the task holds it as its result
    by then, so the loop runs on: the call that owns the task gets it (``run_sync`` raises it in the caller's
    thread) and every other call is still served."""
    while True:
        try:
            loop.run_forever()
        except (SystemExit, KeyboardInterrupt):
            continue
        return


def in_background_loop() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and block until it finishes.

    A SystemExit or KeyboardInterrupt that ``coro`` raises is raised here, in the caller's thread.
    Called from the background loop itself (a sync tool calling a sync API) would deadlock, so
    that case raises instead; use the ``a*`` variant there."""
    if in_background_loop():
        coro.close()
        raise RuntimeError(
            "LLLM's sync API was called from inside its own event loop (for instance agent.run() in an async "
            "tactic or tool), which would deadlock; await the async variant instead: `await agent.arun(...)` for "
            "`agent.run(...)`, `await agent.arespond()` for `agent.respond()`, `await tactic.acall(...)` for a tactic."
        )
    fut = asyncio.run_coroutine_threadsafe(coro, background_loop())
    try:
        return fut.result()
    except BaseException:
        fut.cancel()
        raise


INTERRUPT_WAIT_S = 30.0
"""Seconds a sync call interrupted by its caller (Ctrl-C) waits for the cancelled coroutine to end."""


def run_sync_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """``run_sync(coro)``; when the caller is interrupted (Ctrl-C), the cancelled coroutine is given up to
    ``INTERRUPT_WAIT_S`` to end (a tactic call saves its session on the way out) before the interrupt goes on."""
    started, ended = threading.Event(), threading.Event()

    async def run() -> T:
        started.set()
        try:
            return await coro
        finally:
            ended.set()

    try:
        return run_sync(run())
    except BaseException:
        if in_background_loop():  # refused: never started
            coro.close()
        elif started.is_set():  # set already when the coroutine itself raised
            ended.wait(INTERRUPT_WAIT_S)
        raise


QUICK_S = 0.0002  # how long run_in_daemon_thread blocks the loop for a quick call before it awaits instead


def _pool() -> "DaemonPool":
    global _calls
    if _calls is None:
        with _lock:
            _calls = _calls or DaemonPool(None, "lllm-call")
    return _calls


def _settle(fut: "asyncio.Future[Any]", value: Any, error: Optional[BaseException]) -> None:
    if not fut.done():
        fut.set_result(value) if error is None else fut.set_exception(error)


def _deliver(fut: "asyncio.Future[Any]", value: Any, error: Optional[BaseException]) -> None:
    """Settle ``fut`` on its loop, from a worker thread."""
    with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped without it
        fut.get_loop().call_soon_threadsafe(_settle, fut, value, error)


def in_daemon_thread(fn: Callable[..., Any], /, *args: Any, **kw: Any) -> "asyncio.Future[Any]":
    """``fn`` run in a daemon thread (in this context), as a future of this loop: an idle thread of a shared
    pool, or a new one. Unlike ``asyncio.to_thread``, a call stuck in its thread does not hold up the
    process's exit (Ctrl-C), and calls are not queued behind a few busy threads."""
    ctx, fut = contextvars.copy_context(), asyncio.get_running_loop().create_future()

    def job() -> Callable[[], None]:
        try:
            return functools.partial(_deliver, fut, ctx.run(fn, *args, **kw), None)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting call
            return functools.partial(_deliver, fut, None, e)

    _pool().start(job)
    return fut


async def run_in_daemon_thread(fn: Callable[..., Any], /, *args: Any) -> Any:
    """``fn(*args)`` in a daemon thread, as ``in_daemon_thread``, for calls that are often quick (sync tools).
    The loop first waits up to ``QUICK_S`` for the answer: a quick call then costs no wake-up of the loop
    through its self-pipe (about half the hop's time); a longer one is awaited, so a blocking call still
    holds the loop up for ``QUICK_S`` at most."""
    ctx, done, guard = contextvars.copy_context(), threading.Lock(), threading.Lock()
    done.acquire()
    out: List[Any] = []  # [value, error]: the answer, when it came while the loop waited
    late: "List[asyncio.Future[Any]]" = []  # the future to settle instead, once the loop stopped waiting

    def job() -> Callable[[], None]:
        try:
            answer: Tuple[Any, Optional[BaseException]] = (ctx.run(fn, *args), None)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting call
            answer = (None, e)
        with guard:
            if not late:
                out.extend(answer)
                return done.release  # once this thread is idle: the caller's next call finds it
        return functools.partial(_deliver, late[0], *answer)

    _pool().start(job)
    if not done.acquire(timeout=QUICK_S):
        with guard:  # the answer may have come since: then there is no future to wait for
            if not out:
                late.append(asyncio.get_running_loop().create_future())
        if late:
            return await late[0]
    value, error = out
    out.clear()  # no cycle through the error's traceback
    if error is not None:
        raise error
    return value


Job = Callable[[], Callable[[], None]]  # runs a call; returns what hands its result out


class DaemonPool(cf.Executor):
    """A pool of up to ``max_workers`` (``None``: any number of) daemon threads; a thread idle for ``IDLE_S``
    ends. Unlike ``ThreadPoolExecutor``, whose threads the interpreter joins at exit, a call stuck in one
    does not hold up the process's exit (Ctrl-C): it is abandoned, not stopped (a thread cannot be)."""

    IDLE_S = 30.0

    def __init__(self, max_workers: Optional[int], name: str = "lllm-pool") -> None:
        self.max_workers, self.name = max_workers, name
        # a queued job and what cancels it (shutdown(cancel_futures=True)); None stops a thread
        self._queue: "queue.SimpleQueue[Optional[Tuple[Job, Optional[Callable[[], Any]]]]]" = queue.SimpleQueue()
        self._threads: List[threading.Thread] = []
        self._numbers = itertools.count()  # thread names stay unique as idle threads end
        self._idle = 0  # threads done with their last call, free for the next
        self._lock = threading.Lock()
        self._shut = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> "cf.Future[T]":
        fut: "cf.Future[T]" = cf.Future()

        def job() -> Callable[[], None]:
            if not fut.set_running_or_notify_cancel():  # cancelled before it started
                return _nothing
            try:
                return functools.partial(fut.set_result, fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - the future's owner gets it
                return functools.partial(fut.set_exception, e)

        self.start(job, fut.cancel)
        return fut

    def start(self, job: Job, cancel: Optional[Callable[[], Any]] = None) -> None:
        """Run ``job`` on an idle thread or a new one (the lean ``submit``, without a ``concurrent`` future):
        it must not raise; what it returns runs once its thread is free for the next job."""
        with self._lock:
            if self._shut:
                raise RuntimeError(f"{self.name}: cannot start a call after shutdown")
            self._queue.put((job, cancel))
            if self._idle:
                self._idle -= 1
            elif self.max_workers is None or len(self._threads) < self.max_workers:
                thread = threading.Thread(target=self._serve, name=f"{self.name}-{next(self._numbers)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _serve(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    if not self._idle:  # a call was just handed to this thread: take it
                        continue
                    self._idle -= 1  # end while idle (another idle thread takes what comes)
                    self._threads.remove(threading.current_thread())
                    return
            if item is None:
                break
            deliver = item[0]()
            with self._lock:  # idle before the result is out: the caller's next call finds this thread
                self._idle += 1
            deliver()
            del item, deliver  # the result is its caller's, not this thread's
        self._queue.put(None)  # the next thread stops too

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more calls; ``cancel_futures`` cancels those not yet started, ``wait`` waits for the others."""
        with self._lock:
            self._shut = True
            while cancel_futures:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None and item[1] is not None:
                    item[1]()
            self._queue.put(None)
            threads = list(self._threads)  # idle threads remove themselves from the list as they end
        if wait:
            for thread in threads:
                thread.join()


def _nothing() -> None:
    return None


__all__ = [
    "DaemonPool",
    "background_loop",
    "run_sync",
    "run_sync_to_end",
    "in_background_loop",
    "in_daemon_thread",
    "run_in_daemon_thread",
    "timeout_at",
    "within",
]
