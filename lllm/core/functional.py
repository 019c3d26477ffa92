"""``@tactic``: a tactic written as a plain (async) function of module-level agents.

The function becomes a registered ``Tactic`` subclass, so calls, ``bcall``/``ccall``, sessions, log
stores, replay and package discovery are those of any tactic. Module-level agents are templates: inside
a call, ``agent.run``/``arun`` works on that call's own copy of the agent (found through the running
call's context), recorded in the call's session; concurrent calls never share dialogs."""

from __future__ import annotations

import copy
import inspect
import threading
import types
import typing
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Type

from lllm.core import wiring
from lllm.core.call_context import current_call, invoker_override, model_override
from lllm.core.tactic import Tactic
from lllm.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import Invoker, RuntimeLike, SessionStore
    from lllm.core.stream import BaseStreamHandler

#: What a ``@tactic`` config may set for its agents (in ``global`` or an ``agent_configs`` entry).
AGENT_OVERRIDES = (
    "model_name",
    "system_prompt",
    "model_args",
    "max_exception_retry",
    "max_interrupt_steps",
    "max_llm_recall",
    "rate_limit_retries",
    "max_retry_wait_s",
    "call_deadline_s",
)
_TOP_KEYS = (
    "tactic_type",
    "global",
    "agent_configs",
    "agent_group_configs",
    "invoker",
    "invoker_config",
    "max_workers",
    "base",
)


class FunctionTactic(Tactic, register=False):
    """Base of the tactics ``@tactic`` makes; ``function`` is the decorated function.

    Its config may override the agents the function uses: ``global`` for all of them and
    ``agent_configs`` entries by agent name (keys: ``AGENT_OVERRIDES``); ``invoker``/``invoker_config``
    replace their invokers."""

    function: Callable[..., Any]

    def __init__(
        self,
        config: Optional[Dict[str, Any]] = None,
        ckpt_dir: Optional[str] = None,
        stream: Optional["BaseStreamHandler"] = None,
        runtime: Optional["RuntimeLike"] = None,
        *,
        log_store: Optional["SessionStore"] = None,
        tactic_path: Optional[str] = None,
        invoker: Optional["Invoker"] = None,
    ):
        super().__init__(
            config, ckpt_dir, stream, runtime, log_store=log_store, tactic_path=tactic_path, invoker=invoker
        )
        self._explicit_invoker = invoker is not None or "invoker" in self.config or "invoker_config" in self.config
        self._overrides = _parse_overrides(self.name, self.config)

    def call(self, task: Any, **kw: Any) -> Any:  # replaced per subclass by @tactic
        raise TypeError(f"{type(self).__name__} has no function: build it with @tactic, not directly")

    @classmethod
    def configured_endpoint(cls) -> Optional[str]:
        """The first base URL set on a module-level agent the function names (the CLI's offline default
        counts it as reachable, like a base URL in a config)."""
        from lllm.core.agent import Agent

        fn = getattr(cls, "function", None)
        if fn is None:
            return None
        names, stack = set(), [fn.__code__]
        while stack:
            code = stack.pop()
            names.update(code.co_names)
            stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        for name in sorted(names):
            agent = fn.__globals__.get(name)
            if isinstance(agent, Agent) and (agent.model_args.get("api_base") or agent.model_args.get("base_url")):
                return agent.model_args.get("api_base") or agent.model_args.get("base_url")
        return None


def tactic(
    fn: Optional[Callable[..., Any]] = None,
    /,
    *,
    name: Optional[str] = None,
    config: Optional[Dict[str, Any]] = None,
    log_store: Optional["SessionStore"] = None,
    ckpt_dir: Optional[str] = None,
    runtime: Optional["RuntimeLike"] = None,
) -> Any:
    """Make ``fn(task, **kw)`` (sync or async) a registered tactic and return an instance of it.

    The name defaults to the function's; the first parameter is the task and, like the return value, is
    validated when annotated with a pydantic model. ``config``, ``log_store`` and ``ckpt_dir`` go to the
    instance (``Tactic(...)``); ``type(t)(config, ...)`` builds another one."""

    def make(fn: Callable[..., Any]) -> FunctionTactic:
        if isinstance(fn, type) or not callable(fn):
            raise TypeError(f"@tactic decorates a function, got {fn!r}; subclass Tactic for a class-based tactic.")
        params = list(inspect.signature(fn).parameters.values())
        if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
            raise TypeError(
                f"@tactic function {fn.__qualname__} must take the task as its first positional "
                f"parameter, e.g. `async def {fn.__name__}(topic: str): ...`"
            )
        tname = name or fn.__name__
        call = _as_tool(_call_method(fn), tname, fn.__doc__)
        body = {
            "name": tname,
            "call": call,
            "function": staticmethod(fn),
            "__doc__": fn.__doc__,
            "__module__": fn.__module__,
            "__qualname__": f"{fn.__qualname__}.tactic",
        }
        cls: Type[FunctionTactic] = types.new_class(
            f"{fn.__name__}_tactic",
            (FunctionTactic,),
            {"runtime": runtime} if runtime else {},
            lambda ns: ns.update(body),
        )
        return cls(config, ckpt_dir, runtime=wiring.services.target_runtime(runtime), log_store=log_store)

    if fn is not None:
        return make(fn)
    return make


def _call_method(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``call(self, task, **kw)`` running ``fn``, with its signature and annotations (typed I/O, tool schema)."""
    if inspect.iscoroutinefunction(fn):

        async def call(self: Any, task: Any, **kw: Any) -> Any:
            result = await fn(task, **kw)
            _check_overrides_used(self)
            return result
    else:  # the sync twin of the coroutine above (mypy wants conditional variants to share one signature)

        def call(self: Any, task: Any, **kw: Any) -> Any:  # type: ignore[misc]
            result = fn(task, **kw)
            _check_overrides_used(self)
            return result

    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations mean "untyped"
        hints = {}
    sig = inspect.signature(fn)
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    call.__signature__ = sig.replace(parameters=[self_param, *sig.parameters.values()])  # type: ignore[attr-defined]
    call.__annotations__ = {k: v for k, v in hints.items() if k in sig.parameters or k == "return"}
    call.__doc__ = fn.__doc__
    return call


def _as_tool(call: Callable[..., Any], name: str, doc: Optional[str]) -> Callable[..., Any]:
    """Mark ``call`` as the tactic's tool (``pkg.tactics:name`` in an agent's tools, ``t.as_function()``);
    its config is the empty one unless the caller binds another."""
    from lllm.core.tactic_tools import tactictool

    return tactictool(name, description=inspect.cleandoc(doc) if doc else None, config={})(call)


def _parse_overrides(tactic: str, config: Dict[str, Any]) -> Dict[Optional[str], Dict[str, Any]]:
    """``{None: global overrides, agent name: its overrides}``. An agent key a @tactic cannot apply is an
    error and an unknown top-level key a warning: nothing is ignored silently."""
    unknown = sorted(k for k in config if k not in _TOP_KEYS)
    if unknown:
        warnings.warn(
            f"Tactic '{tactic}' (@tactic): config key(s) {unknown} are not read; a @tactic config "
            f"reads {list(_TOP_KEYS)}.",
            UserWarning,
            stacklevel=4,
        )
    out: Dict[Optional[str], Dict[str, Any]] = {}
    entries = [("global", None, config.get("global") or {})]
    for section in ("agent_configs", "agent_group_configs"):  # a list of {name: ...}, or name -> mapping
        listed = config.get(section) or []
        if isinstance(listed, dict):
            entries += [(f"{section}.{n}", n, e) for n, e in listed.items()]
        elif isinstance(listed, list):
            entries += [
                (f"{section}[{i}]", e.get("name") if isinstance(e, dict) else None, e) for i, e in enumerate(listed)
            ]
        else:
            raise ConfigError(
                f"Tactic '{tactic}': '{section}' must be a list of mappings with a 'name', or a "
                f"mapping of agent name to settings"
            )
    for i, (where, agent, entry) in enumerate(entries):
        if not isinstance(entry, dict) or (i and not agent):
            raise ConfigError(f"Tactic '{tactic}': {where} must be a mapping" + (" with a 'name'" if i else ""))
        bad = sorted(k for k in entry if k not in AGENT_OVERRIDES and k != "name")
        if bad:
            raise ConfigError(
                f"Tactic '{tactic}': {where} sets {bad}, which a @tactic cannot apply to its "
                f"agents; it can set {list(AGENT_OVERRIDES)} (the rest is the Agent's own code)."
            )
        out.setdefault(agent, {}).update({k: v for k, v in entry.items() if k != "name"})
    return out


def _check_overrides_used(ctx: Any) -> None:
    """Warn when the config overrides an agent the call never ran (a misspelt name would change nothing)."""
    unused = sorted(n for n in ctx._overrides if n is not None and n not in ctx.agents)
    if unused:
        warnings.warn(
            f"Tactic '{ctx.name}': the config sets agent(s) {unused}, but this call ran only "
            f"{sorted(ctx.agents)}; check the names.",
            UserWarning,
            stacklevel=3,
        )


def bound_agent(agent: Any) -> Any:
    """The agent ``run`` should use: inside a tactic call, that call's copy of ``agent``; else ``agent``."""
    current = current_call.get()
    if not current or agent._template is not None:  # none, or one that has ended
        return agent
    ctx = current[0]
    mine = ctx.agents.get(agent.name)
    if mine is agent or (mine is not None and mine._template is agent):
        return mine
    if mine is not None:
        raise ConfigError(
            f"Tactic '{ctx.name}': two different agents are named '{agent.name}'; the agents of one "
            f"tactic need distinct names (sessions and replay are keyed by them)."
        )
    with _bind_lock:
        mine = ctx.agents.get(agent.name)
        if mine is None:
            mine = ctx.agents[agent.name] = _call_copy(ctx, agent)
    return mine


_bind_lock = threading.Lock()


def _call_copy(ctx: Tactic, template: Any) -> Any:
    """A per-call copy of a module-level agent: no dialogs, recorded in the call's session, config applied."""
    from lllm.core.prompt import Prompt

    agent = copy.copy(template)
    agent._template = template
    agent._dialogs, agent._active, agent._busy, agent._busy_lock = {}, None, False, threading.Lock()
    agent._tool_cache = None
    agent.tools, agent.model_args = list(template.tools), dict(template.model_args)
    agent.session_listeners = [*template.session_listeners, ctx._call_session.record_agent_call]
    overrides = getattr(ctx, "_overrides", {})
    for over in (overrides.get(None) or {}, overrides.get(template.name) or {}):
        for key, value in over.items():
            if key == "model_name":
                agent.model = value
            elif key == "model_args":
                agent.model_args.update(value or {})
            elif key == "system_prompt":
                agent.system_prompt = (
                    value
                    if isinstance(value, Prompt)
                    else Prompt(path=f"_inline/{template.name}/system", prompt=str(value))
                )
            else:
                setattr(agent, key, value)
    model = model_override.get()
    if model is not None:
        agent.model = model
    invoker = invoker_override.get()
    if invoker is not None:
        agent.llm_invoker = invoker
    elif getattr(ctx, "_explicit_invoker", False):
        agent.llm_invoker = ctx.llm_invoker
    if agent.stream_handler is None and ctx.stream is not None:
        agent.stream_handler = ctx.stream
    return agent


__all__ = ["tactic", "FunctionTactic", "bound_agent", "AGENT_OVERRIDES"]
