"""Run a tactic's batch on Ray: a pool of actors, each building the tactic once from its class and config,
runs the tasks; the driver keeps the order, the per-task failures, the sessions and the batch's records."""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, Generator, List, Optional, Tuple

from ray import cloudpickle

from lllm.errors import ConfigError
from lllm.ray.limiter import LimitedInvoker, RateLimit, limiter_actor

logger = logging.getLogger("lllm.ray")


class _Captured:
    """The store a worker's tactic saves into: it keeps the sessions for the driver, which writes them."""

    def __init__(self) -> None:
        self.saved: List[Tuple[Any, Any, Any]] = []

    def save_session(self, session: Any, tags: Any = None, metadata: Any = None) -> str:
        self.saved.append((session, tags, metadata))
        return ""


class RayBatch:
    """A Ray actor: builds the tactic once, then runs tasks on it (``max_concurrency`` at a time)."""

    def __init__(self, spec: bytes, limiter: Any = None):
        cls, config, tactic_path, limit, self.model = cloudpickle.loads(spec)
        self.tactic = cls(config, tactic_path=tactic_path)
        if limit is not None:
            self.tactic.llm_invoker = LimitedInvoker(self.tactic.llm_invoker, limiter, limit)

    def run(self, payload: bytes) -> Tuple[bool, Any, Any]:
        """``(ok, result or exception, (session, tags, metadata) or None)`` for one task."""
        import copy

        task, tags, metadata, kw = cloudpickle.loads(payload)
        tactic = copy.copy(self.tactic)
        store = tactic.log_store = _Captured()  # the per-call copy's sessions land here
        from lllm.core.tactic import use_model

        try:
            with use_model(self.model):  # the driver's --model / use_model, as in a local batch
                ok, value = True, tactic(task, None, tags, metadata, False, **kw)
        except Exception as e:  # noqa: BLE001 - a task's failure is its result
            ok, value = False, _portable(e)
        return ok, value, (store.saved[-1] if store.saved else None)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that names it."""
    try:
        cloudpickle.loads(cloudpickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def task_payload(task: Any, tags: Any, metadata: Any, kw: Dict[str, Any]) -> bytes:
    """What travels to a worker for one task: the task, its tags and metadata and the call's keywords."""
    return cloudpickle.dumps((task, tags, metadata, kw))


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
    from lllm.core.tactic import _model_override

    return cloudpickle.dumps((type(tactic), tactic.config, tactic.tactic_path, limit, _model_override.get()))


def _ship_package_code(cls: type) -> None:
    """A tactic from an lllm package travels by value, with its package's modules: discovery imports a
    package's files under folder modules (``lllm._discovered.<pkg>…``) that a worker cannot import. Any other
    tactic's module must be importable on the workers (installed, or Ray's ``runtime_env``)."""
    import sys

    parts = cls.__module__.split(".")
    for n in range(1, len(parts)):
        module = sys.modules.get(".".join(parts[:n]))
        if module is not None and getattr(module, "__file__", None) is None:  # a folder discovery made
            cloudpickle.register_pickle_by_value(module)
            return


def _md5(task: Any) -> str:
    from lllm.core.tactic import _task_md5

    return _task_md5(task)


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
    rate_limit: Optional[RateLimit] = None,
    num_cpus: Optional[int] = None,
    runtime_env: Optional[Dict[str, Any]] = None,
    kw: Optional[Dict[str, Any]] = None,
) -> Generator[Tuple[int, Any], None, None]:
    """``(index, result)`` in completion order, a failed task as its exception. Without ``address`` (and
    no Ray running) a local Ray instance is started for the batch and stopped after it; ``"auto"`` or
    ``"ray://HOST:PORT"`` joins a cluster (``runtime_env``: Ray's, for the instance this call starts). With
    ``batch_id`` the tasks the store holds as done are not run. ``rate_limit`` caps model requests per provider
    and key across all workers; ``actors`` is the pool's size (default: the cluster's CPUs)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("backend='ray' needs Ray: pip install 'lllm[ray]'") from None
    from lllm.core.tactic import _batch_tags

    n_workers = tactic._workers(max_workers)
    done = tactic._batch_done(batch_id, tasks, return_sessions) if batch_id else {}
    yield from done.items()
    todo = [i for i in range(len(tasks)) if i not in done]
    if not todo:
        return
    spec = tactic_spec(tactic, rate_limit)
    started = False
    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            runtime_env=runtime_env,
        )
        started = True
    pending: Dict[Any, int] = {}
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        n_actors = max(1, min(actors or cpus, n_workers, len(todo)))
        per_actor = math.ceil(min(n_workers, len(todo)) / n_actors)
        remote: Any = ray.remote
        actor_cls = remote(num_cpus=0.5, max_restarts=2, max_task_retries=2)(RayBatch)
        limiter = limiter_actor() if rate_limit is not None else None  # the driver's: it outlives the pool
        pool = [actor_cls.options(max_concurrency=per_actor).remote(spec, limiter) for _ in range(n_actors)]
        queue = iter(todo)

        def submit(k: int) -> None:
            for _, i in zip(range(k), queue):
                t = _batch_tags(tags, batch_id, i, tasks[i])
                md = {**(metadata or {}), "batch_index": i}
                pending[pool[len(pending) % n_actors].run.remote(task_payload(tasks[i], t, md, kw or {}))] = i

        submit(n_workers)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            submit(1)
            try:
                ok, value, saved = ray.get(ready[0])
            except Exception as e:  # noqa: BLE001 - the actor died past its restarts: this task failed
                yield i, e
                continue
            session = _keep(tactic, saved, batch_id, i, tasks[i])
            if not ok:
                yield i, value
            else:
                yield i, session if return_sessions else value
    finally:
        for ref in pending:
            ray.cancel(ref)
        if started:
            ray.shutdown()


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


__all__ = ["RayBatch", "run_batch", "task_payload", "tactic_spec"]
