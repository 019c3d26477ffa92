"""Run a tactic's batch on Ray: a pool of actors, each building the tactic once from its class and config,
runs the tasks; the driver keeps the order, the per-task failures, the sessions and the batch's records."""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any, Deque, Dict, Generator, List, Optional, Tuple, cast

from ray import cloudpickle

from lllm.errors import ConfigError
from lllm.ray.limiter import LimitedInvoker, RateLimit, limiter_actor

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import BatchLeasesLike

logger = logging.getLogger("lllm.ray")


class _Captured:
    """The store a worker's tactic saves into: it keeps the sessions for the driver and, given the batch's
    shared store, writes them there first (a session it could not write still goes back to the driver)."""

    def __init__(self, shared: Any = None) -> None:
        self.shared = shared
        self.saved: List[Tuple[Any, Any, Any]] = []
        self.written = False

    def save_session(self, session: Any, tags: Any = None, metadata: Any = None) -> str:
        self.saved.append((session, tags, metadata))
        self.written = False
        if self.shared is None:
            return ""
        try:
            sid: str = self.shared.save_session(session, tags=tags, metadata=metadata)
        except Exception:  # noqa: BLE001 - the driver writes it instead
            logger.warning("saving a session to the shared store failed; the driver will write it", exc_info=True)
            return ""
        self.written = True
        return sid


class RayBatch:
    """A Ray actor: builds the tactic once, then runs tasks on it (``max_concurrency`` at a time). Given a
    shared store (PostgreSQL), it writes each task's session there and notes a batch's finished tasks."""

    def __init__(self, spec: bytes, limiter: Any = None):
        cls, config, tactic_path, limit, self.model, shared = cloudpickle.loads(spec)
        self.tactic = cls(config, tactic_path=tactic_path)
        self.shared = None
        if shared is not None:
            try:
                self.shared = _open_shared(shared)
            except Exception:  # noqa: BLE001 - this worker's sessions go back to the driver instead
                logger.warning(
                    "this worker cannot open the shared store; the driver will write its sessions", exc_info=True
                )
        if limit is not None:
            self.tactic.llm_invoker = LimitedInvoker(self.tactic.llm_invoker, limiter, limit)

    def run(self, payload: bytes, sessions: bool = True, stored: bool = True) -> Tuple[bool, Any, Any, bool]:
        """``(ok, result or exception, (session, tags, metadata) or None, written)`` for one task;
        ``written``: the session is in the shared store (and the batch's note too), not for the driver. The
        session travels back when the driver wants it (``sessions``) or must write it (``stored``)."""
        import copy

        task, tags, metadata, kw = cloudpickle.loads(payload)
        tactic = copy.copy(self.tactic)
        store = tactic.log_store = _Captured(self.shared)  # the per-call copy's sessions land here
        from lllm.core.tactic import use_model

        try:
            with use_model(self.model):  # the driver's --model / use_model, as in a local batch
                ok, value = True, tactic(task, None, tags, metadata, False, **kw)
        except Exception as e:  # noqa: BLE001 - a task's failure is its result
            ok, value = False, _portable(e)
        saved = store.saved[-1] if store.saved else None
        shared: Any = self.shared
        if saved is not None and store.written and saved[0].state == "success" and "lllm.batch_id" in (tags or {}):
            try:
                shared.record_batch_task(
                    tags["lllm.batch_id"], int(tags["lllm.batch_index"]), saved[0].session_id, tags["lllm.task_md5"]
                )
            except Exception:  # noqa: BLE001 - the driver notes it instead
                logger.warning("noting batch task %s as done failed", tags["lllm.batch_index"], exc_info=True)
                store.written = False
        if not (sessions or (stored and not store.written)):
            saved = None  # nobody needs it on the driver: do not ship it
        return ok, value, saved, store.written


def _open_shared(spec: Tuple[str, str]) -> Any:
    from lllm.logging import postgres_store

    dsn, partition = spec
    return postgres_store(dsn, partition=partition)


def shared_store(store: Any) -> Optional[Tuple[str, str]]:
    """``(dsn, partition)`` when the workers can write to ``store`` themselves (PostgreSQL), else ``None``."""
    backend: Any = getattr(store, "backend", None)
    if type(backend).__name__ != "PostgresBackend":
        return None
    return str(backend.dsn), str(store.partition)


def _dumps(obj: Any) -> bytes:
    """``obj`` pickled with Ray's cloudpickle (by value where registered)."""
    return cast(bytes, cloudpickle.dumps(obj))  # type: ignore[no-untyped-call]  # Ray's cloudpickle is unannotated


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that names it."""
    try:
        cloudpickle.loads(_dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def task_payload(task: Any, tags: Any, metadata: Any, kw: Dict[str, Any]) -> bytes:
    """What travels to a worker for one task: the task, its tags and metadata and the call's keywords."""
    return _dumps((task, tags, metadata, kw))


def tactic_spec(tactic: Any, limit: Optional[RateLimit]) -> bytes:
    """What travels to each actor once: the tactic's class, config and path; never a credential."""
    from lllm.logging.redact import redact

    if redact(tactic.config) != tactic.config:
        raise ConfigError(
            f"Tactic '{tactic.name}': its config holds a credential (an api_key, token or a provider key from "
            "the environment); a Ray batch does not ship credentials to workers. Remove it from the config and "
            "set the provider's variable (e.g. OPENAI_API_KEY) in the workers' environment."
        )
    _ship_package_code(type(tactic))
    from lllm.core.tactic import model_in_use

    shared = shared_store(tactic.log_store)
    return _dumps((type(tactic), tactic.config, tactic.tactic_path, limit, model_in_use(), shared))


def _ship_package_code(cls: type) -> None:
    """A tactic from an lllm package travels by value, with its package's modules: discovery imports a
    package's files under folder modules (``lllm._discovered.<pkg>…``) that a worker cannot import. Any other
    tactic's module must be importable on the workers (installed, or Ray's ``runtime_env``)."""
    import sys

    parts = cls.__module__.split(".")
    for n in range(1, len(parts)):
        module = sys.modules.get(".".join(parts[:n]))
        if module is not None and getattr(module, "__file__", None) is None:  # a folder discovery made
            cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]  # unannotated in Ray
            return


def _md5(task: Any) -> str:
    from lllm.core.batch import task_md5

    return task_md5(task)


def run_batch(
    tactic: Any,
    tasks: List[Any],
    *,
    address: Optional[str] = None,
    max_workers: Optional[int] = None,
    actors: Optional[int] = None,
    tags: Optional[Dict[str, str]] = None,
    metadata: Optional[Dict[str, Any]] = None,
    return_sessions: bool = False,
    batch_id: Optional[str] = None,
    lease_ttl: Optional[float] = None,
    rate_limit: Optional[RateLimit] = None,
    num_cpus: Optional[int] = None,
    runtime_env: Optional[Dict[str, Any]] = None,
    kw: Optional[Dict[str, Any]] = None,
) -> Generator[Tuple[int, Any], None, None]:
    """``(index, result)`` in completion order, a failed task as its exception. Without ``address`` (and
    neither Ray running in this process nor ``RAY_ADDRESS`` set) a local Ray instance is started for the
    batch and stopped after it; ``"auto"`` or ``"HOST:PORT"`` / ``"ray://HOST:PORT"`` joins a cluster
    (``runtime_env``: Ray's, for the connection this call makes). With ``batch_id`` the tasks the store holds
    as done are not run, and each task runs under a lease in the store (``lease_ttl`` seconds), so two
    drivers of one batch never run a task twice. ``rate_limit`` caps model requests per provider and key
    across all workers; ``actors`` is the pool's size (default: the cluster's CPUs), spread over the nodes."""
    try:
        import ray
    except ImportError:
        raise ConfigError("backend='ray' needs Ray: pip install 'lllm[ray]'") from None
    from lllm.core import batch, wiring
    from lllm.core.tactic import DEFAULT_LEASE_TTL

    n_workers = batch.workers(tactic, max_workers)
    done = batch.done_results(tactic, batch_id, tasks, return_sessions) if batch_id else {}
    yield from done.items()
    queue = collections.deque(i for i in range(len(tasks)) if i not in done)
    if not queue:
        return
    spec = tactic_spec(tactic, rate_limit)
    started = _start_ray(address, num_cpus, runtime_env)
    pool: Optional[_Pool] = None
    try:  # a local Ray instance this call started is shut down even if the leases cannot be opened
        leases = (
            wiring.services.batch_leases(tactic.log_store, batch_id, lease_ttl or DEFAULT_LEASE_TTL)
            if batch_id
            else None
        )
        pool = _Pool(tactic, tasks, queue, n_workers, leases, batch_id, tags, metadata, kw or {}, return_sessions)
        pool.start(spec, actors, rate_limit)
        yield from pool.results()
    finally:
        if pool is not None:
            pool.stop()
        if started:
            ray.shutdown()


def _start_ray(address: Optional[str], num_cpus: Optional[int], runtime_env: Optional[Dict[str, Any]]) -> bool:
    """Connect this process to Ray unless it is already; whether this call did (and so must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"  # never a stray `ray start` instance
    ray.init(
        address=address,
        num_cpus=num_cpus if address == "local" else None,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env=_module_paths(runtime_env),
    )
    return True


@dataclasses.dataclass
class _Pool:
    """A batch under way on a pool of ``RayBatch`` actors: the tasks queued, in flight and held by another
    driver; at most ``n_workers`` in flight, each on the actor with the fewest."""

    tactic: Any
    tasks: List[Any]
    queue: Deque[int]  # task indexes to start
    n_workers: int
    leases: Optional[BatchLeasesLike]  # the batch's leases in the store, or None
    batch_id: Optional[str]
    tags: Optional[Dict[str, str]]
    metadata: Optional[Dict[str, Any]]
    kw: Dict[str, Any]
    return_sessions: bool
    actors: List[Any] = dataclasses.field(default_factory=list)
    load: List[int] = dataclasses.field(default_factory=list)  # tasks in flight on each actor
    pending: Dict[Any, Tuple[int, int]] = dataclasses.field(default_factory=dict)  # ref -> (task index, actor)
    later: List[Tuple[float, int]] = dataclasses.field(default_factory=list)  # (when, index): to look at again

    def start(self, spec: bytes, actors: Optional[int], rate_limit: Optional[RateLimit]) -> None:
        """The actors: ``actors`` of them (default: the cluster's CPUs), no more than the workers or the tasks."""
        import ray

        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]  # unannotated in Ray
        n_actors = max(1, min(actors or cpus, self.n_workers, len(self.queue)))
        per_actor = math.ceil(min(self.n_workers, len(self.queue)) / n_actors)
        remote: Any = ray.remote
        actor_cls = remote(num_cpus=0.5, max_restarts=2, max_task_retries=2)(RayBatch)
        limiter = limiter_actor() if rate_limit is not None else None  # the driver's: it outlives the pool
        options = {"max_concurrency": per_actor, "scheduling_strategy": "SPREAD"}
        self.actors = [actor_cls.options(**options).remote(spec, limiter) for _ in range(n_actors)]
        self.load = [0] * n_actors

    def results(self) -> Generator[Tuple[int, Any], None, None]:
        """``(index, result)`` as tasks finish (or turn out finished by another driver), until none is left."""
        import ray

        while True:
            yield from self._fill()
            if not self.pending:
                if not self.later:
                    break
                time.sleep(self._until_due())
                continue
            timeout = self._until_due() if self.later else None
            ready, rest = ray.wait(list(self.pending), num_returns=1, timeout=timeout)
            if ready and rest:  # collect every result already there in one go, not one wait per result
                ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in ready:
                yield self._collect(ref)

    def _until_due(self) -> float:
        """Seconds until the first task another driver held is due for another look."""
        return max(0.0, min(when for when, _ in self.later) - time.monotonic())

    def _fill(self) -> List[Tuple[int, Any]]:
        """Start tasks up to ``n_workers`` in flight; the results found in the store meanwhile."""
        from lllm.core import batch

        found: List[Tuple[int, Any]] = []
        now = time.monotonic()
        self.queue.extend(i for when, i in self.later if when <= now)
        self.later[:] = [(when, i) for when, i in self.later if when > now]
        while self.queue and len(self.pending) < self.n_workers:
            i = self.queue.popleft()
            if self.leases is not None and self.batch_id is not None:
                if not self.leases.take(i):  # another driver runs it: look again later
                    self.later.append((now + self.leases.retry_after, i))
                    continue
                value = batch.recorded(self.tactic, self.batch_id, self.tasks, i, self.return_sessions)
                if value is not batch.MISSING:  # another driver finished it since this one started
                    self.leases.release(i)
                    found.append((i, value))
                    continue
            self._submit(i)
        return found

    def _submit(self, i: int) -> None:
        """Task ``i`` sent to the actor with the fewest tasks in flight."""
        from lllm.core.batch import batch_tags

        a = self.load.index(min(self.load))
        self.load[a] += 1
        tags = batch_tags(self.tags, self.batch_id, i, self.tasks[i])
        payload = task_payload(self.tasks[i], tags, {**(self.metadata or {}), "batch_index": i}, self.kw)
        ref = self.actors[a].run.remote(payload, self.return_sessions, self.tactic.log_store is not None)
        self.pending[ref] = (i, a)

    def _collect(self, ref: Any) -> Tuple[int, Any]:
        """The finished task's ``(index, result)``; its session kept by the driver unless a worker stored it."""
        import ray

        i, a = self.pending.pop(ref)
        self.load[a] -= 1
        try:
            ok, value, saved, written = ray.get(ref)
        except Exception as e:  # noqa: BLE001 - the actor died past its restarts: this task failed
            ok, value, saved, written = False, e, None, False
        if written:  # a worker stored it (and noted the batch's task)
            session = saved[0] if saved else None
        else:
            session = _keep(self.tactic, saved, self.batch_id, i, self.tasks[i])
        if self.leases is not None:
            self.leases.release(i)
        return i, (session if self.return_sessions else value) if ok else value

    def stop(self) -> None:
        """Cancel the tasks still in flight; give up the leases."""
        import ray

        for ref in self.pending:
            ray.cancel(ref)
        if self.leases is not None:
            self.leases.close()


def _module_paths(runtime_env: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """``runtime_env`` with each imported module in ``py_modules`` given as its file or folder, as Ray reads
    it: Ray's client mode (``ray://``) copies the runtime environment and cannot copy a module object."""
    import types

    if not runtime_env or not runtime_env.get("py_modules"):
        return runtime_env
    paths: List[Any] = []
    for m in runtime_env["py_modules"]:
        if isinstance(m, types.ModuleType):
            where = list(getattr(m, "__path__", None) or [])
            if len(where) != 1 and getattr(m, "__file__", None) is None:
                raise ConfigError(
                    f"runtime_env py_modules: module '{m.__name__}' has no single file or folder Ray could ship; "
                    "give its folder's path instead"
                )
            m = where[0] if len(where) == 1 else m.__file__
        paths.append(m)
    return {**runtime_env, "py_modules": paths}


def _keep(tactic: Any, saved: Any, batch_id: Optional[str], i: int, task: Any) -> Any:
    """Write a worker's session to the driver's store (and the batch's record); the session."""
    if saved is None:
        return None
    session, tags, metadata = saved
    store = tactic.log_store
    if store is None:
        return session
    try:
        session.session_id = store.save_session(session, tags=tags, metadata=metadata)
    except Exception:  # noqa: BLE001 - saving never masks the outcome
        logger.warning("tactic %s: saving task %d's session failed", tactic.name, i, exc_info=True)
        return session
    if batch_id and session.state == "success":
        try:
            store.record_batch_task(batch_id, i, session.session_id, _md5(task))
        except Exception:  # noqa: BLE001
            logger.warning("tactic %s: recording batch task %d as done failed", tactic.name, i, exc_info=True)
    return session


__all__ = ["RayBatch", "run_batch", "task_payload", "tactic_spec", "shared_store"]
