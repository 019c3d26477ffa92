"""Tactic, the program: takes a task, builds fresh agents per call, wires them, returns a result.

A tactic instance holds only configuration; every call works on a shallow per-call copy with fresh
agents and its own TacticCallSession, so one instance is safe to call concurrently."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import logging
import platform
import sys
import typing
from abc import ABC, abstractmethod
from enum import Enum
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Tuple,
    Type,
    cast,
)

from pydantic import BaseModel, ValidationError

from lllm._version import __version__
from lllm.core import batch, events, wiring
from lllm.core.aio import in_daemon_thread, run_sync_to_end
from lllm.core.call_context import (
    current_call,
    current_session,
    invoker_override,
    model_in_use,
    model_override,
    use_invoker,
    use_model,
)
from lllm.core.dialog import local_stamp
from lllm.core.sessions import TacticCallSession
from lllm.core.spec import parse_agent_configs
from lllm.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import Invoker, RuntimeLike, SessionStore
    from lllm.core.stream import BaseStreamHandler

logger = logging.getLogger("lllm.tactic")

#: Called with every finished top-level TacticCallSession (e.g. the OpenTelemetry exporter).
session_hooks: List[Callable[[TacticCallSession], None]] = []


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
    for dist in ("pydantic", "httptools", "aiohttp", "genai-prices", "litellm"):
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
        invoker = invoker_override.get() or self.llm_invoker
        model = model_override.get()
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
        if self.log_store is None:  # quiet by default: a script without a store is normal (said once, at INFO)
            self._run_hooks(session)
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
        """Save a finished session and set its id on it (runs off the loop for ``acall``), then hand it to the
        session hooks; never raises."""
        try:
            session.session_id = self._store.save_session(session, tags=tags, metadata=metadata)
        except Exception:  # noqa: BLE001 - saving never masks the outcome
            logger.warning("tactic %s: saving the session failed", self.name, exc_info=True)
        self._run_hooks(session)

    def _run_hooks(self, session: TacticCallSession) -> None:
        """Hand a finished top-level session to every session hook (after its save, so with its id)."""
        for hook in session_hooks:
            try:
                hook(session)
            except Exception:  # noqa: BLE001 - an observer never masks the outcome
                logger.warning("tactic %s: session hook %r failed", self.name, hook, exc_info=True)

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
        parent = current_call.get() or None
        ctx = self._begin(task, session_name, metadata)
        if parent is not None and events.listening():  # reported in the caller's context
            events.emit(events.SubTacticStarted, self._recorded_name(parent), self.name, ctx._call_session.session_name)
        return parent, ctx, current_call.set([ctx, ctx._call_session])

    def _leave(self, ctx: "Tactic", parent: Any, token: Any, keep_dialogs: bool) -> bool:
        """End a call's scope; True when its session is to be saved."""
        if parent is not None:  # a parent call that ended meanwhile has emptied its cell: this one stands alone
            parent = tuple(parent) or None
        cell = current_call.get()
        current_call.reset(token)
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
            return run_sync_to_end(self.acall(task, session_name, tags, metadata, return_session, **kw))
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
            return await in_daemon_thread(self.__call__, task, session_name, tags, metadata, return_session, **kw)
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
    # Batches (lllm.core.batch)
    # ---------------------------------------------------------------------------------------
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
        options = batch.Options(tags, metadata, return_sessions, batch_id, lease_ttl, kw)
        return batch.bcall(self, tasks, max_workers, fail_fast, backend, backend_options, options)

    def ccall(
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
        # the batch module's async generator itself, not one wrapping it: no extra step per result
        options = batch.Options(tags, metadata, return_sessions, batch_id, lease_ttl, kw)
        return batch.ccall(self, tasks, max_workers, return_exceptions, backend, backend_options, options)

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
    "model_in_use",
]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(__name__, {"get_tactic_class": "lllm.compat"})
