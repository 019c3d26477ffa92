"""Tactic, the program: takes a task, builds fresh agents per call, wires them, returns a result.

A tactic instance holds only configuration; every call works on a shallow per-call copy with fresh
agents and its own TacticCallSession, so one instance is safe to call concurrently."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures as cf
import contextlib
import contextvars
import functools
import hashlib
import inspect
import json
import logging
import platform
import sys
import time
import typing
from abc import ABC, abstractmethod
from enum import Enum
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Generator,
    Iterator,
    List,
    Optional,
    Tuple,
    Type,
    cast,
)

from pydantic import BaseModel, ValidationError

from lllm._version import __version__
from lllm.core import events, wiring
from lllm.core.aio import run_sync
from lllm.core.dialog import local_stamp
from lllm.core.sessions import TacticCallSession
from lllm.core.spec import parse_agent_configs
from lllm.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import BatchLeasesLike, Invoker, RuntimeLike, SessionStore
    from lllm.core.stream import BaseStreamHandler

logger = logging.getLogger("lllm.tactic")

# The tactic call in progress in this context: (per-call copy, its session). Sub-tactic calls use it
# to record themselves under their parent automatically.
#: Called with every finished top-level TacticCallSession (e.g. the OpenTelemetry exporter).
session_hooks: List[Callable[[TacticCallSession], None]] = []

# An invoker that every tactic called in this context uses instead of its own (replay, tests).
_invoker_override: contextvars.ContextVar[Any] = contextvars.ContextVar("lllm_invoker_override", default=None)
# A model that every agent of every tactic called in this context runs on (`lllm run --model`, offline runs).
_model_override: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("lllm_model_override", default=None)

# [per-call copy, its session] of the call in progress, emptied when the call ends: contexts copied during the
# call (a cancelled timer handle keeps its copy until the loop drops it) then no longer keep the call alive.
_current_call: contextvars.ContextVar[Optional[List[Any]]] = contextvars.ContextVar(
    "lllm_current_tactic_call", default=None
)


DEFAULT_LEASE_TTL = 600.0
"""Seconds a batch runner holds a task before another runner may take it over."""


def _normalize_name(name: Any) -> Optional[str]:
    if isinstance(name, Enum):
        return str(name.value)
    return name if isinstance(name, str) and name else None


def stable_tactic_id(namespace: str, tactic_name: str) -> str:
    """``<package>::<name>``; the bare name outside the package system (§9.2)."""
    return f"{namespace.split('.')[0]}::{tactic_name}" if namespace else tactic_name


def register_tactic_class(cls: type, runtime: Optional[RuntimeLike] = None) -> type:
    """Register a named Tactic class in the explicit, else loading, else default runtime."""
    name = _normalize_name(getattr(cls, "name", None))
    if not name:
        raise ValueError(f"Tactic class {cls.__name__} must define a non-empty class attribute `name`")
    rt = wiring.services.target_runtime(runtime)
    loading = wiring.services.current_loading(rt)
    if loading is not None:  # discovery: into the loading package, under its prefix; collisions reported there
        loading.register("tactic", name, cls)
        return cls
    namespace = ""
    try:
        old = rt.get_node(f"{namespace}.tactics:{name}" if namespace else name, "tactic").value
        if old is not cls and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            logger.warning(
                "Tactic '%s' was registered by %s.%s; %s.%s replaces it",
                name,
                old.__module__,
                old.__qualname__,
                cls.__module__,
                cls.__qualname__,
            )
    except (KeyError, TypeError):
        pass
    rt.register_tactic(name, cls, overwrite=True, namespace=namespace)
    return cls


@functools.cache
def _library_versions() -> Dict[str, str]:
    """Versions of the libraries on the model-call path (read once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("pydantic", "aiohttp", "genai-prices", "litellm"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _environment(runtime: RuntimeLike) -> Dict[str, Any]:
    """What a recorded session needs to say where it ran: versions of Python, LLLM, its provider
    libraries and the loaded packages (§9.3 item 4)."""
    return {
        "lllm": __version__,
        "python": platform.python_version(),
        "platform": sys.platform,
        "libraries": _library_versions(),
        "packages": {name: info.version for name, info in sorted(runtime.packages.items())},
    }


class Tactic(ABC):
    """Subclass with a ``name``, the ``agent_group`` it needs, and a (sync or async) ``call(task)``."""

    name: str = ""
    agent_group: List[str] = []
    record_as: Optional[str] = None
    """The name the calling tactic records this one's session under; default: the attribute holding it."""

    def __init_subclass__(cls, register: bool = True, runtime: Optional[RuntimeLike] = None, **kw: Any):
        super().__init_subclass__(**kw)
        name = _normalize_name(cls.__dict__["name"]) if register and "name" in cls.__dict__ else None
        if name:
            cls.name = name
            register_tactic_class(cls, runtime)

    def __init__(
        self,
        config: Optional[Dict[str, Any]] = None,
        ckpt_dir: Optional[str] = None,
        stream: Optional["BaseStreamHandler"] = None,
        runtime: Optional[RuntimeLike] = None,
        *,
        log_store: Optional["SessionStore"] = None,
        tactic_path: Optional[str] = None,
        invoker: Optional["Invoker"] = None,
    ):
        if config is not None and not isinstance(config, dict):
            raise ConfigError(f"Tactic '{self.name}': config must be a mapping, got {type(config).__name__}")
        self.config: Dict[str, Any] = dict(config or {})
        self.runtime = runtime or wiring.services.default_runtime()
        self.stream = stream
        self.ckpt_dir = ckpt_dir
        if log_store is None and ckpt_dir is not None:
            log_store = wiring.services.local_store(ckpt_dir, self.runtime)  # the session store (§9.1)
        self.log_store = log_store
        if "invoker_config" in self.config:  # a key the built-in invokers would not read is an error, not ignored
            wiring.services.check_invoker_config(
                self.config.get("invoker") or "auto", self.config["invoker_config"], f"Tactic '{self.name}'"
            )
        if invoker is None:
            invoker = wiring.services.build_invoker(self.config)
        self.llm_invoker = invoker
        self._agent_specs = (
            parse_agent_configs(self.config, list(self.agent_group), self.name) if self.agent_group else {}
        )
        self._system_prompts = {n: s.resolve_system_prompt(self.runtime) for n, s in self._agent_specs.items()}
        fetched: Dict[str, Any] = {}  # a URL skill is fetched once for all agents
        self._skills = {
            n: wiring.services.resolve_skills(s.skills, cache=fetched) for n, s in self._agent_specs.items()
        }
        self._mcp_servers = wiring.services.mcp_servers(self.config, {n: s.tools for n, s in self._agent_specs.items()})
        self._mcp_scope: Any = None
        self._agent_templates: Dict[str, Tuple[Tuple[Any, Any, Any], Any]] = {}  # see _fresh_agent
        workers = self.config.get("max_workers", 4)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"Tactic '{self.name}': max_workers must be an integer >= 1, got {workers!r}")
        self.max_workers = workers
        self.tactic_path = tactic_path or self._default_tactic_path()
        self.agents: Dict[str, Any] = {}
        self._session: Optional[TacticCallSession] = None
        self._warned_no_store = False
        self._prepare()

    def _prepare(self) -> None:
        """Do now, once per process, what the first call would otherwise do lazily: import the call
        path's modules and, for agents on a native provider, the HTTP client library and the model's
        price (an SDK does the same when its client is built); ``lllm`` itself stays quick to import."""
        import lllm.core.agent  # noqa: F401
        import lllm.core.context  # noqa: F401
        import lllm.core.dialog  # noqa: F401

        wiring.services.prewarm(self.llm_invoker, [(s.model_name, s.model_args) for s in self._agent_specs.values()])

    def _default_tactic_path(self) -> str:
        for node in self.runtime.iter_nodes("tactic"):
            if node.value is type(self):
                return stable_tactic_id(node.namespace, self.name)
        return self.name or type(self).__name__

    @property
    def sub_tactics(self) -> Dict[str, "Tactic"]:
        """Attributes holding tactics (they are recorded automatically when called during a call)."""
        return {k: v for k, v in vars(self).items() if isinstance(v, Tactic)}

    @property
    def session(self) -> Optional[TacticCallSession]:
        """The session of the call in progress (on the per-call copy)."""
        return self._session

    @property
    def _store(self) -> "SessionStore":
        """The log store, on the paths that run only with one (saving a session, a batch's records)."""
        assert self.log_store is not None
        return self.log_store

    @property
    def _call_session(self) -> TacticCallSession:
        """The running session of a per-call copy (set by ``_begin``)."""
        assert self._session is not None
        return self._session

    @abstractmethod
    def call(self, task: Any, **kw: Any) -> Any:
        """The program. May be ``async def``."""

    # ---------------------------------------------------------------------------------------
    # Per-call phases
    # ---------------------------------------------------------------------------------------
    def _coerce_input(self, task: Any) -> Any:
        model = _annotated_model(self.call, "task")
        if model is None or isinstance(task, model):
            return task
        try:
            if isinstance(task, (str, bytes)):
                return model.model_validate_json(task)
            if isinstance(task, BaseModel):  # the same class imported under another module name, or a look-alike
                task = task.model_dump()
            return model.model_validate(task)
        except ValidationError as e:
            raise ValueError(f"Tactic '{self.name}': task is not a valid {model.__name__}: {e}") from e

    def _coerce_output(self, result: Any) -> Any:
        model = _annotated_model(self.call, "return")
        if model is not None and isinstance(result, dict):
            return model.model_validate(result)
        return result

    def _begin(self, task: Any, session_name: Optional[str], metadata: Optional[Dict[str, Any]]) -> "Tactic":
        """The per-call copy, with fresh agents and a running session."""
        if session_name is None:
            text = task.model_dump_json() if isinstance(task, BaseModel) else str(task)
            session_name = f"{self.name}_{hashlib.md5(text.encode()).hexdigest()[:8]}_{local_stamp()}"
        session = TacticCallSession(
            tactic_name=self.name,
            tactic_path=self.tactic_path,
            session_name=session_name,
            state="running",
            task=task,
            metadata=dict(metadata or {}),
        )
        ctx = object.__new__(type(self))  # a shallow copy (copy.copy, without its generic protocol)
        ctx.__dict__.update(self.__dict__)
        ctx._session = session
        ctx.agents = {}
        invoker = _invoker_override.get() or self.llm_invoker
        model = _model_override.get()
        if model is not None:
            session.metadata["model_override"] = model
        if self._mcp_servers:
            ctx._mcp_scope = wiring.services.mcp_scope(self._mcp_servers)  # connects at first use, closed in _finish
        for name, spec in self._agent_specs.items():
            agent = self._fresh_agent(name, spec, invoker, model)
            if ctx._mcp_scope is not None:
                agent.tools = ctx._mcp_scope.expand(agent.tools)
            agent.session_listeners.append(session.record_agent_call)
            ctx.agents[name] = agent
        logger.info("tactic %s started (%s)", self.name, session_name)
        return ctx

    def _fresh_agent(self, name: str, spec: Any, invoker: Any, model: Optional[str]) -> Any:
        """Agent ``name`` for one call: a clone of the one built (and checked) at the tactic's first call, or
        built afresh when the call overrides the model or the agent holds per-call resources (a proxy
        sandbox, a context manager)."""
        overridden = model is not None and spec.model_name != model
        if overridden:
            spec = spec.model_copy(update={"model_name": model})
        reusable = not overridden and spec.context_manager is None
        key = (invoker, self.stream, self.runtime)
        built = self._agent_templates.get(name) if reusable else None
        if built is not None and all(a is b for a, b in zip(built[0], key)):
            return built[1].clone()
        agent = spec.build(
            self.runtime, invoker, self.stream, system_prompt=self._system_prompts[name], skills=self._skills[name]
        )
        if reusable and agent.proxy_surface is None:
            self._agent_templates[name] = (key, agent)
            return agent.clone()
        return agent

    def _finish(self, ctx: "Tactic", parent: Optional[Tuple["Tactic", TacticCallSession]], keep_dialogs: bool) -> bool:
        """Close the call's resources and complete its session; ``True`` when it is to be saved (``_save``)."""
        session = ctx._session
        assert session is not None
        for agent in ctx.agents.values():  # stop the agents' sandbox workers
            surface = getattr(agent, "proxy_surface", None)
            if surface is not None:
                surface.close()
        if ctx._mcp_scope is not None:  # end this call's MCP connections
            ctx._mcp_scope.close()
        if parent is not None:
            parent[1].record_sub_tactic_call(self._recorded_name(parent), session)
        if self.log_store is not None or keep_dialogs or parent is not None:  # a parent may store it
            session.config = wiring.services.redact(self.config)
            session.environment = _environment(self.runtime)
            session.dialogs = {
                n: [{**d.to_dict(), "alias": alias} for alias, d in a.dialogs.items()] for n, a in ctx.agents.items()
            }
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "tactic %s %s, cost $%.6f, %d agent call(s)",
                self.name,
                session.state,
                session.total_cost.cost,
                session.agent_call_count,
            )
        if parent is not None:
            return False  # a sub-tactic's session is saved inside its parent's
        for hook in session_hooks:
            try:
                hook(session)
            except Exception:  # noqa: BLE001 - an observer never masks the outcome
                logger.warning("tactic %s: session hook %r failed", self.name, hook, exc_info=True)
        if self.log_store is None:  # quiet by default: a script without a store is normal (said once, at INFO)
            if not self._warned_no_store and self.record_as is None:  # a tool-run tactic's caller decides
                self._warned_no_store = True
                logger.info(
                    "tactic %s has no log_store: its sessions are not saved (pass log_store=... or "
                    "ckpt_dir=... to record them)",
                    self.name,
                )
            return False
        return True

    def _recorded_name(self, parent: Any) -> str:
        """The name the calling tactic records this call under: ``record_as``, else its attribute, else the name."""
        return self.record_as or next((k for k, v in vars(parent[0]).items() if v is self), self.name)

    def _save(
        self, session: TacticCallSession, tags: Optional[Dict[str, str]], metadata: Optional[Dict[str, Any]]
    ) -> None:
        """Save a finished session and set its id on it (runs off the loop for ``acall``); never raises."""
        try:
            session.session_id = self._store.save_session(session, tags=tags, metadata=metadata)
        except Exception:  # noqa: BLE001 - saving never masks the outcome
            logger.warning("tactic %s: saving the session failed", self.name, exc_info=True)

    # ---------------------------------------------------------------------------------------
    # Calling: sync and async drivers over the same phases
    # ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _calling(
        self,
        task: Any,
        session_name: Optional[str],
        tags: Optional[Dict[str, str]],
        metadata: Optional[Dict[str, Any]],
        keep_dialogs: bool,
    ) -> Iterator["Tactic"]:
        """One sync call's scope: the per-call copy with a running session, its outcome recorded,
        and the session finished and saved whatever happens."""
        parent, ctx, token = self._enter(task, session_name, metadata)
        try:
            yield ctx
        except BaseException as e:
            ctx._call_session.failure(e)
            raise
        finally:
            if self._leave(ctx, parent, token, keep_dialogs):
                self._save(ctx._call_session, tags, metadata)

    def _enter(
        self, task: Any, session_name: Optional[str], metadata: Optional[Dict[str, Any]]
    ) -> Tuple[Any, "Tactic", Any]:
        """(the enclosing call, the per-call copy, the context token) at the start of a call."""
        parent = _current_call.get() or None
        ctx = self._begin(task, session_name, metadata)
        if parent is not None and events.listening():  # reported in the caller's context
            events.emit(events.SubTacticStarted, self._recorded_name(parent), self.name, ctx._call_session.session_name)
        return parent, ctx, _current_call.set([ctx, ctx._call_session])

    def _leave(self, ctx: "Tactic", parent: Any, token: Any, keep_dialogs: bool) -> bool:
        """End a call's scope; True when its session is to be saved."""
        cell = _current_call.get()
        _current_call.reset(token)
        if cell:
            cell.clear()
        save = self._finish(ctx, parent, keep_dialogs)
        if parent is not None and events.listening():
            events.emit(events.SubTacticFinished.of, self._recorded_name(parent), ctx._call_session)
        return save

    def __call__(
        self,
        task: Any,
        session_name: Optional[str] = None,
        tags: Optional[Dict[str, str]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        return_session: bool = False,
        on_event: Optional[events.Listener] = None,
        **kw: Any,
    ) -> Any:
        """Run the tactic on ``task`` and return its result (or the TacticCallSession). ``on_event`` is
        called with every event of the call as it happens (see ``lllm.observe``)."""
        if on_event is not None:
            with events.observe(on_event):
                return self.__call__(task, session_name, tags, metadata, return_session, **kw)
        if inspect.iscoroutinefunction(self.call):
            return run_sync(self.acall(task, session_name, tags, metadata, return_session, **kw))
        task = self._coerce_input(task)
        with self._calling(task, session_name, tags, metadata, return_session) as ctx:
            result = ctx._coerce_output(ctx.call(task, **kw))
            ctx._call_session.success(result)
        return ctx._session if return_session else result

    async def acall(
        self,
        task: Any,
        session_name: Optional[str] = None,
        tags: Optional[Dict[str, str]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        return_session: bool = False,
        on_event: Optional[events.Listener] = None,
        **kw: Any,
    ) -> Any:
        """Async call: awaits an async ``call`` natively; a sync one runs in a worker thread. ``on_event``:
        as in ``__call__``."""
        if on_event is not None:
            with events.observe(on_event):
                return await self.acall(task, session_name, tags, metadata, return_session, **kw)
        if not inspect.iscoroutinefunction(self.call):
            return await asyncio.to_thread(self.__call__, task, session_name, tags, metadata, return_session, **kw)
        task = self._coerce_input(task)
        # ``_calling``'s phases written out (no async context manager: one object and frame fewer per call in
        # flight); the save runs in a worker thread and is awaited, so the session is saved when this returns
        parent, ctx, token = self._enter(task, session_name, metadata)
        try:
            result = ctx._coerce_output(await ctx.call(task, **kw))
            ctx._call_session.success(result)
        except BaseException as e:
            ctx._call_session.failure(e)
            raise
        finally:
            if self._leave(ctx, parent, token, return_session):
                await asyncio.to_thread(self._save, ctx._call_session, tags, metadata)
        return ctx._session if return_session else result

    # ---------------------------------------------------------------------------------------
    # Batches
    # ---------------------------------------------------------------------------------------
    def _workers(self, max_workers: Optional[int]) -> int:
        n = self.max_workers if max_workers is None else max_workers
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"max_workers must be an integer >= 1, got {n!r}")
        return n

    def bcall(
        self,
        tasks: List[Any],
        max_workers: Optional[int] = None,
        fail_fast: bool = True,
        tags: Optional[Dict[str, str]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        return_sessions: bool = False,
        batch_id: Optional[str] = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        backend: str = "local",
        backend_options: Optional[Dict[str, Any]] = None,
        **kw: Any,
    ) -> List[Any]:
        """Run many tasks concurrently; results in input order.

        With ``fail_fast`` the first failure cancels tasks not yet started and is raised once the
        running ones finish; otherwise a failed slot holds its exception. With ``batch_id`` (needs a
        log store) every task's session is tagged with the batch, and running the same batch again,
        say after a crash, runs only the tasks that have not succeeded yet; tasks that were running
        when a process was killed run again (at-least-once). Each task runs under a lease in the store
        (``lease_ttl`` seconds, renewed every third of that while it runs), so processes running the same
        batch at once never run one task twice; each ends with every result. A killed runner's lease
        is taken over at once on the same machine, else when it expires. ``backend="ray"`` runs the tasks
        on Ray (``lllm.ray``; ``backend_options``: ``address``, ``actors``, ``rate_limit``, ``num_cpus``)."""
        workers = self._workers(max_workers)
        tasks = list(tasks)
        if not tasks:
            return []
        if backend != "local":
            return self._remote_batch(tasks, backend, backend_options, fail_fast, locals(), kw)
        if inspect.iscoroutinefunction(self.call):
            return run_sync(
                self._abatch(tasks, workers, fail_fast, tags, metadata, return_sessions, batch_id, lease_ttl, kw)
            )
        out: List[Any] = [None] * len(tasks)
        done = self._batch_done(batch_id, tasks, return_sessions) if batch_id else {}
        for i, value in done.items():
            out[i] = value
        todo = collections.deque(i for i in range(len(tasks)) if i not in done)
        if not todo:
            return out
        leases = wiring.services.batch_leases(self.log_store, batch_id, lease_ttl) if batch_id else None

        def one(i: int) -> Any:
            args = (tasks[i], None, _batch_tags(tags, batch_id, i, tasks[i]), {**(metadata or {}), "batch_index": i})
            if leases is None or batch_id is None:
                return self.__call__(*args, return_sessions, **kw)
            if not leases.take(i):
                return _BUSY
            try:
                found = self._batch_recorded(batch_id, tasks, i, return_sessions)
                if found is not _MISSING:  # another runner finished it since this batch started
                    return found
                return self._batch_finished(batch_id, i, tasks[i], self.__call__(*args, True, **kw), return_sessions)
            finally:
                leases.release(i)

        later: List[Tuple[float, int]] = []  # (when, index): tasks another runner holds, to try again
        first_error: Optional[BaseException] = None
        try:
            with cf.ThreadPoolExecutor(
                max_workers=min(workers, len(todo)), thread_name_prefix=f"lllm-{self.name}"
            ) as ex:
                running: Dict[cf.Future[Any], int] = {}
                while todo or running or later:
                    now = time.monotonic()
                    todo.extend(i for when, i in later if when <= now)
                    later = [(when, i) for when, i in later if when > now]
                    while todo and len(running) < workers:
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
                            if first_error is None:  # else it is cancelled like the tasks not yet started
                                later.append((time.monotonic() + leases.retry_after, i))  # type: ignore[union-attr]
                            continue
                        out[i] = exc if exc is not None else f.result()
                        if exc is not None and fail_fast and first_error is None:
                            first_error = exc
                            todo.clear()  # tasks not yet started are cancelled
                            later.clear()
        finally:
            if leases is not None:
                leases.close()
        if first_error is not None:
            raise first_error
        return out

    def _batch_done(self, batch_id: str, tasks: List[Any], return_sessions: bool) -> Dict[int, Any]:
        """Results of a batch's tasks that already succeeded, read back from the log store."""
        if self.log_store is None:
            raise ValueError(f"Tactic '{self.name}': batch_id needs a log_store to record the batch's progress")
        done: Dict[int, Any] = {}
        for summary in self.log_store.list_sessions(tags={"lllm.batch_id": batch_id}, state="success", limit=None):
            i = int(summary.tags.get("lllm.batch_index", -1))
            if not 0 <= i < len(tasks) or i in done:
                continue
            if summary.tags.get("lllm.task_md5") != _task_md5(tasks[i]):
                raise ValueError(
                    f"Tactic '{self.name}': batch '{batch_id}' was recorded with a different task at "
                    f"index {i}; use a new batch_id for a new list of tasks."
                )
            session = self.log_store.load_session(summary.session_id)
            done[i] = session if return_sessions else self._coerce_output(session.delivery)
        return done

    def _batch_recorded(self, batch_id: str, tasks: List[Any], i: int, return_sessions: bool) -> Any:
        """Task ``i``'s result if a runner recorded it as done (one read), else ``_MISSING``."""
        note = self._store.batch_task(batch_id, i)
        if note is None:
            return _MISSING
        if note.get("task_md5") != _task_md5(tasks[i]):
            raise ValueError(
                f"Tactic '{self.name}': batch '{batch_id}' was recorded with a different task at "
                f"index {i}; use a new batch_id for a new list of tasks."
            )
        try:
            session = self._store.load_session(note["session_id"])
        except KeyError:  # its session was deleted since: run the task again
            return _MISSING
        return session if return_sessions else self._coerce_output(session.delivery)

    def _batch_finished(
        self, batch_id: str, i: int, task: Any, session: TacticCallSession, return_sessions: bool
    ) -> Any:
        """Record for other runners that task ``i`` succeeded; its result as the batch returns it."""
        if session.session_id:  # saved (saving never masks the outcome, so it may have failed)
            try:
                self._store.record_batch_task(batch_id, i, session.session_id, _task_md5(task))
            except Exception:  # noqa: BLE001 - without the note, a concurrent runner may run the task again
                logger.warning("tactic %s: recording batch task %d as done failed", self.name, i, exc_info=True)
        return session if return_sessions else session.delivery

    async def _abatch(
        self,
        tasks: List[Any],
        workers: int,
        fail_fast: bool,
        tags: Any,
        metadata: Any,
        return_sessions: bool,
        batch_id: Optional[str],
        lease_ttl: float,
        kw: Dict[str, Any],
    ) -> List[Any]:
        out: List[Any] = [None] * len(tasks)
        async for i, res in self.ccall(
            tasks,
            max_workers=workers,
            tags=tags,
            metadata=metadata,
            return_sessions=return_sessions,
            return_exceptions=not fail_fast,
            batch_id=batch_id,
            lease_ttl=lease_ttl,
            **kw,
        ):
            out[i] = res
        return out

    async def ccall(
        self,
        tasks: List[Any],
        max_workers: Optional[int] = None,
        tags: Optional[Dict[str, str]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        return_sessions: bool = False,
        return_exceptions: bool = False,
        batch_id: Optional[str] = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        backend: str = "local",
        backend_options: Optional[Dict[str, Any]] = None,
        **kw: Any,
    ) -> AsyncIterator[Tuple[int, Any]]:
        """Yield ``(index, result)`` in completion order; a failure is raised (or yielded) when it
        occurs, and tasks not yet started are cancelled. ``batch_id``, ``lease_ttl``, ``backend`` and
        ``backend_options`` work as in ``bcall``."""
        workers = self._workers(max_workers)
        if backend != "local":
            it = self._remote_iter(list(tasks), backend, backend_options, locals(), kw)
            try:
                while (item := await asyncio.to_thread(next, it, None)) is not None:
                    if isinstance(item[1], BaseException) and not return_exceptions:
                        raise item[1]
                    yield item
            finally:
                await asyncio.to_thread(it.close)
            return
        sem = asyncio.Semaphore(workers)
        tasks = list(tasks)
        leases: Optional[BatchLeasesLike] = None
        running: Dict[asyncio.Future[Tuple[int, Any]], int] = {}
        # A sync tactic runs in threads of its own, as many as workers: asyncio's default pool has only
        # min(32, cores + 4) threads, which would cap the concurrency (and stall the lease calls).
        pool = (
            None
            if inspect.iscoroutinefunction(self.call)
            else cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"lllm-{self.name}")
        )

        async def call(*args: Any) -> Any:
            if pool is None:
                return await self.acall(*args, **kw)
            run = functools.partial(self.__call__, *args, **kw)
            return await asyncio.get_running_loop().run_in_executor(pool, contextvars.copy_context().run, run)

        try:
            done = await asyncio.to_thread(self._batch_done, batch_id, tasks, return_sessions) if batch_id else {}
            if batch_id and len(done) < len(tasks):
                leases = await asyncio.to_thread(wiring.services.batch_leases, self.log_store, batch_id, lease_ttl)
            for i, value in done.items():
                yield i, value

            async def one(i: int, t: Any, delay: float = 0.0) -> Tuple[int, Any]:
                await asyncio.sleep(delay)
                async with sem:
                    args = (t, None, _batch_tags(tags, batch_id, i, t), {**(metadata or {}), "batch_index": i})
                    if leases is None or batch_id is None:
                        return i, await call(*args, return_sessions)
                    if not await asyncio.to_thread(leases.take, i):
                        return i, _BUSY
                    try:
                        found = await asyncio.to_thread(self._batch_recorded, batch_id, tasks, i, return_sessions)
                        if found is not _MISSING:  # another runner finished it since this batch started
                            return i, found
                        session = await call(*args, True)
                        return i, await asyncio.to_thread(
                            self._batch_finished, batch_id, i, t, session, return_sessions
                        )
                    finally:
                        await asyncio.to_thread(leases.release, i)

            todo = iter([i for i in range(len(tasks)) if i not in done])

            def start(n: int) -> None:  # a task per run in flight, not per run: the rest start as runs finish
                for _, j in zip(range(n), todo):
                    running[asyncio.ensure_future(one(j, tasks[j]))] = j

            start(workers)
            while running:
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for f in finished:
                    i = running.pop(f)
                    start(1)
                    exc = f.exception()
                    if exc is None and f.result()[1] is _BUSY:  # held by another runner: come back later
                        running[asyncio.ensure_future(one(i, tasks[i], leases.retry_after))] = i  # type: ignore
                    elif exc is None:
                        yield f.result()
                    elif return_exceptions:
                        yield i, exc
                    else:
                        raise exc
        finally:
            for f in running:
                f.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            if leases is not None:
                await asyncio.to_thread(leases.close)
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def _remote_iter(
        self, tasks: List[Any], backend: str, options: Optional[Dict[str, Any]], args: Dict[str, Any], kw: Any
    ) -> Generator[Tuple[int, Any], None, None]:
        """A batch on another backend (``wiring.services.run_batch``): ``(index, result or exception)``."""
        keys = ("max_workers", "tags", "metadata", "return_sessions", "batch_id")
        opts = {**(options or {}), **{k: args[k] for k in keys}, "kw": kw}
        return wiring.services.run_batch(self, tasks, backend, opts)

    def _remote_batch(
        self, tasks: List[Any], backend: str, options: Any, fail_fast: bool, args: Dict[str, Any], kw: Any
    ) -> List[Any]:
        """``bcall`` on another backend: results in input order; with ``fail_fast`` the first failure stops it."""
        out: List[Any] = [None] * len(tasks)
        it = self._remote_iter(tasks, backend, options, args, kw)
        try:
            for i, value in it:
                if fail_fast and isinstance(value, BaseException):
                    raise value
                out[i] = value
        finally:
            it.close()
        return out

    # ---------------------------------------------------------------------------------------
    # Quick single-agent use
    # ---------------------------------------------------------------------------------------
    @staticmethod
    def quick(
        query: Any = None,
        system_prompt: Any = "You are a helpful assistant.",
        model: str = "gpt-4o",
        return_agent: bool = False,
        **model_args: Any,
    ) -> Any:
        """One agent named ``assistant``: with ``query`` open ``chat`` and return the reply, else the Agent."""
        from lllm.core.agent import Agent
        from lllm.core.prompt import Prompt

        if isinstance(query, Prompt):  # a Prompt passed first is the system prompt
            system_prompt, query = query, None
        agent = Agent(name="assistant", system_prompt=system_prompt, model=model, model_args=model_args)
        if query is None:
            return agent
        agent.open("chat")
        agent.receive(str(query))
        reply = agent.respond()
        return (reply, agent) if return_agent else reply

    @classmethod
    def as_function(
        cls,
        config: Any = None,
        *,
        runtime: Optional[RuntimeLike] = None,
        name: Optional[str] = None,
        description: Optional[str] = None,
    ) -> Any:
        """This tactic as a tool (a ``Function``) an agent can call (§2.7)."""
        from lllm.core.tactic_tools import build_tactic_function

        return build_tactic_function(cls, runtime=runtime, config=config, name=name, description=description)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, agents={list(self._agent_specs)})"


_BUSY = object()  # a batch task whose lease another runner holds
_MISSING = object()  # a batch task no runner has recorded as done


def _task_md5(task: Any) -> str:
    text = task.model_dump_json() if isinstance(task, BaseModel) else json.dumps(task, sort_keys=True, default=str)
    return hashlib.md5(text.encode()).hexdigest()


def _batch_tags(
    tags: Optional[Dict[str, str]], batch_id: Optional[str], index: int, task: Any
) -> Optional[Dict[str, str]]:
    """A batch task's tags: the caller's plus the batch id, the index and a fingerprint of the task."""
    if batch_id is None:
        return tags
    return {**(tags or {}), "lllm.batch_id": batch_id, "lllm.batch_index": str(index), "lllm.task_md5": _task_md5(task)}


def current_session() -> Optional[TacticCallSession]:
    """The running session of the tactic call in progress in this context (sub-tactics, tactic tools and
    agent tools included), else ``None``; e.g. to record work done elsewhere with ``record_sub_tactic_call``."""
    cell = _current_call.get()
    return cell[1] if cell else None


@contextlib.contextmanager
def use_invoker(invoker: Any) -> Iterator[Any]:
    """Within the block, every tactic call (sub-tactics included) gives its agents ``invoker``."""
    token = _invoker_override.set(invoker)
    try:
        yield invoker
    finally:
        _invoker_override.reset(token)


@contextlib.contextmanager
def use_model(model: Optional[str]) -> Iterator[Optional[str]]:
    """Within the block, every agent of every tactic call (sub-tactics and tactic tools included) runs on
    ``model``; the session records it as ``metadata["model_override"]``. ``None`` changes nothing."""
    token = _model_override.set(model) if model is not None else None
    try:
        yield model
    finally:
        if token is not None:
            _model_override.reset(token)


def _annotated_model(fn: Any, param: str) -> Optional[Type[BaseModel]]:
    """The BaseModel a parameter (or ``return``) of ``fn`` is annotated with, if any (cached)."""
    cache = getattr(fn, "__func__", fn).__dict__.setdefault("_lllm_hints", {})
    if param not in cache:
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # noqa: BLE001 - unresolvable annotations mean "untyped"
            hints = {}
        if param == "task":
            names = [p for p in inspect.signature(fn).parameters if p not in ("self", "kw", "kwargs")]
            param_name = names[0] if names else "task"
            hint = hints.get(param_name)
        else:
            hint = hints.get("return")
        cache[param] = hint if isinstance(hint, type) and issubclass(hint, BaseModel) else None
    return cast(Optional[Type[BaseModel]], cache[param])


def build_tactic(
    config: Dict[str, Any],
    log_store: Optional["SessionStore"] = None,
    name: Optional[str] = None,
    runtime: Optional[RuntimeLike] = None,
    **kw: Any,
) -> Tactic:
    """Build a registered tactic from a config (name from ``name`` or ``config['tactic_type']``).

    ``config`` may also be a config key, resolved with ``resolve_config`` (a dict with ``base`` is resolved too)."""
    rt = runtime or wiring.services.default_runtime()
    if isinstance(config, str) or (isinstance(config, dict) and config.get("base") is not None):
        config = (
            wiring.services.resolve_config(config, rt)
            if isinstance(config, str)
            else wiring.services.vendor_config(config, rt)
        )
    name = _normalize_name(name) or _normalize_name((config or {}).get("tactic_type"))
    if not name:
        raise ConfigError("build_tactic needs a tactic name: pass name=... or set 'tactic_type' in the config.")
    node = rt.get_node(name, "tactic")
    cls: Type[Tactic] = node.value
    return cls(config, log_store=log_store, runtime=rt, tactic_path=stable_tactic_id(node.namespace, cls.name), **kw)


__all__ = [
    "Tactic",
    "TacticCallSession",
    "build_tactic",
    "current_session",
    "register_tactic_class",
    "stable_tactic_id",
    "use_invoker",
    "use_model",
]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(__name__, {"get_tactic_class": "lllm.compat"})
