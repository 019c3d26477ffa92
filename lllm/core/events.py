"""Live events of a tactic call: agent calls, model invocations, retries, tool calls and sub-tactics, as
they happen.

Subscribe for one call with ``tactic(task, on_event=cb)`` or for a block with ``with lllm.observe(cb):``;
the listeners live in a context variable, so sub-tactics, tactic tools and agents inside the call report to
them too. A listener runs in the thread where the event happens, so it should be quick and thread-safe; one
that raises is logged and skipped, never breaking the call. With no listener, emitting is one context
variable read: no event is built."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.message import FunctionCall
    from lllm.core.sessions import AgentCallSession, InvokeTrace, TacticCallSession

logger = logging.getLogger("lllm.events")


def _current_tactic() -> Optional[str]:
    from lllm.core.tactic import current_session  # loaded whenever a call runs; no import cycle at load

    session = current_session()
    return session.tactic_name if session is not None else None


@dataclass(frozen=True)
class Event:
    """Base of every event: ``tactic`` is the innermost tactic call it happened in (None outside one),
    ``at`` its wall-clock time."""

    tactic: Optional[str] = field(default_factory=_current_tactic, kw_only=True)
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class AgentCallStarted(Event):
    """An agent call (``respond``/``run``/``call``) began."""

    agent: str
    model: str


@dataclass(frozen=True)
class AgentCallFinished(Event):
    """An agent call ended: ``state`` is ``success`` or ``failure`` (then ``reason`` and ``error`` say why)."""

    agent: str
    model: str
    state: str
    reason: Optional[str]
    invokes: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    error: Optional[str] = None

    @classmethod
    def of(cls, agent: str, session: "AgentCallSession") -> "AgentCallFinished":
        c = session.cost
        error = session.error.get("message") if session.error else None
        return cls(
            agent,
            session.model,
            session.state,
            session.reason,
            session.invoke_count,
            c.prompt_tokens,
            c.completion_tokens,
            c.cost,
            error,
        )


@dataclass(frozen=True)
class InvokeFinished(Event):
    """One model request ended; ``error`` is the exception class of a failed request or invalid output."""

    agent: str
    step: int
    attempt: int
    latency_s: float
    prompt_tokens: int
    completion_tokens: int
    cost: float
    error: Optional[str] = None

    @classmethod
    def of(cls, agent: str, trace: "InvokeTrace") -> "InvokeFinished":
        c = trace.cost
        error = trace.errors[0].get("type") if trace.errors else None
        return cls(
            agent, trace.step, trace.attempt, trace.latency_s, c.prompt_tokens, c.completion_tokens, c.cost, error
        )


@dataclass(frozen=True)
class RetryScheduled(Event):
    """The agent will try again: ``kind`` is ``rate_limit``, ``transient`` or ``invalid_output``; it waits
    ``delay_s`` seconds first."""

    agent: str
    step: int
    kind: str
    delay_s: float
    error: str


@dataclass(frozen=True)
class ToolCallStarted(Event):
    """The model asked for a tool call, about to run."""

    agent: str
    step: int
    id: str
    name: str
    arguments: Dict[str, Any]


@dataclass(frozen=True)
class ToolCallFinished(Event):
    """A tool call ended: ``result`` is the text the model sees; ``error`` is set when the tool failed."""

    agent: str
    step: int
    id: str
    name: str
    arguments: Dict[str, Any]
    result: Optional[str]
    error: Optional[str] = None

    @classmethod
    def of(cls, agent: str, step: int, call: "FunctionCall") -> "ToolCallFinished":
        return cls(agent, step, call.id, call.name, call.arguments, call.result_str, call.error_message)


@dataclass(frozen=True)
class SubTacticStarted(Event):
    """A tactic call began inside another (``tactic`` is the caller); ``name`` is what the caller records
    it under, ``sub_tactic`` its tactic name."""

    name: str
    sub_tactic: str
    session_name: Optional[str] = None


@dataclass(frozen=True)
class SubTacticFinished(Event):
    """A tactic call inside another ended; ``session_id`` is set for a remote one (``RemoteTactic``)."""

    name: str
    sub_tactic: str
    state: str
    agent_calls: int
    cost: float
    error: Optional[str] = None
    session_id: Optional[str] = None

    @classmethod
    def of(cls, name: str, session: "TacticCallSession") -> "SubTacticFinished":
        return cls(
            name,
            session.tactic_name,
            session.state,
            session.agent_call_count,
            session.total_cost.cost,
            session.error,
            session.session_id,
        )


#: A listener: called with every event of the calls it observes.
Listener = Callable[[Event], None]

_listeners: contextvars.ContextVar[Tuple[Listener, ...]] = contextvars.ContextVar("lllm_event_listeners", default=())


def listening() -> bool:
    """Whether anything observes the code running in this context."""
    return bool(_listeners.get())


def emit(make: Callable[..., Event], *args: Any, **fields: Any) -> None:
    """Build an event with ``make(*args, **fields)`` and hand it to this context's listeners; with none,
    return at once without building it. Neither a failing listener nor a failing build escapes."""
    listeners = _listeners.get()
    if not listeners:
        return
    try:
        event = make(*args, **fields)
    except Exception:  # noqa: BLE001 - an observer never breaks the call
        logger.warning("building event %r failed", make, exc_info=True)
        return
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - nor does a listener
            logger.warning("event listener %r failed on %s", listener, type(event).__name__, exc_info=True)


@contextlib.contextmanager
def observe(*listeners: Optional[Listener]) -> Iterator[None]:
    """Within the block, every tactic call, agent call and tool call started here (in this thread or task,
    and in those it starts) reports its events to ``listeners`` too; ``None`` entries are ignored."""
    added = tuple(f for f in listeners if f is not None)
    if not added:
        yield
        return
    for f in added:
        if not callable(f):
            raise TypeError(f"observe() takes callables (event -> None), got {f!r}")
    token = _listeners.set(_listeners.get() + added)
    try:
        yield
    finally:
        _listeners.reset(token)


__all__ = [
    "AgentCallFinished",
    "AgentCallStarted",
    "Event",
    "InvokeFinished",
    "Listener",
    "RetryScheduled",
    "SubTacticFinished",
    "SubTacticStarted",
    "ToolCallFinished",
    "ToolCallStarted",
    "emit",
    "listening",
    "observe",
]
