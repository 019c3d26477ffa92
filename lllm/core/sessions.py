"""Call records: what one ``agent.respond()`` (AgentCallSession) and one ``tactic(task)``
(TacticCallSession) did — every attempt, tool call, error and cost — serialisable for logging and replay."""

from __future__ import annotations

import contextvars
import json
import time
import traceback as tb
from typing import Any, Dict, List, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_serializer,
    model_validator,
)

from lllm.core.message import FunctionCall, InvokeCost, Message
from lllm.core.shared_fields import SharedFieldsSet, own_fields_set, share_fields_set

# 2: in JSON, invoke traces refer to messages by index into the session's ``message_table`` (a
#    100-step call would otherwise store its growing dialog 100 times). Version 1 (inline) still loads.
# 3: likewise the provider's wire request: the entries of ``request.body``'s lists in ``WIRE_LISTS`` (wire
#    messages, tool schemas) refer by index into the session's ``wire_table``. Versions 1 and 2 still load.
SESSION_SCHEMA_VERSION = 3
WIRE_LISTS = ("messages", "input", "contents", "tools", "system")


def error_record(exc: BaseException) -> Dict[str, str]:
    """An exception as ``{type, message, traceback}`` (the traceback taken from the exception itself)."""
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(tb.format_exception(type(exc), exc, exc.__traceback__)),
    }


class _Record(BaseModel):
    """A call record whose fields-set (which fields were given) is shared with the records built alike until
    a field is assigned (``lllm.core.shared_fields``): ~0.7 KiB less per record while its call is in flight."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def model_post_init(self, context: Any, /) -> None:
        share_fields_set(self)

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self.__pydantic_fields_set__) is SharedFieldsSet:  # own_fields_set, inlined: assignments are hot
            object.__setattr__(self, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        BaseModel.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        own_fields_set(self)
        super().__delattr__(name)

    @property
    def model_fields_set(self) -> set[str]:
        """The fields given or assigned (this record's own set: changing it changes no other record)."""
        return own_fields_set(self)


class _MessageTable:
    """The messages of one session being written as JSON: each distinct message once, traces refer by index.

    A message object shared by many traces (the agent loop shares them) is converted once, found by
    identity; distinct objects with equal content still share one entry."""

    __slots__ = ("rows", "by_id", "by_content", "keep", "wire_rows", "wire_by_content")

    def __init__(self) -> None:
        self.rows: List[Dict[str, Any]] = []
        self.by_id: Dict[int, int] = {}
        self.by_content: Dict[str, int] = {}
        self.keep: List[Any] = []  # holds the objects whose ids are keys, so no id is reused meanwhile
        self.wire_rows: List[Dict[str, Any]] = []
        self.wire_by_content: Dict[str, int] = {}

    def wire_body(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """``body`` with each ``WIRE_LISTS`` list of mappings replaced by ``{"$wire": [indices into wire_rows]}``."""
        out = dict(body)
        for key in WIRE_LISTS:
            items = body.get(key)
            if isinstance(items, list) and items and all(isinstance(x, dict) for x in items):
                out[key] = {"$wire": [self._wire(x) for x in items]}
        return out

    def _wire(self, item: Dict[str, Any]) -> int:
        key = json.dumps(item, sort_keys=True, default=str)
        found = self.wire_by_content.get(key)
        if found is None:
            found = self.wire_by_content[key] = len(self.wire_rows)
            self.wire_rows.append(item)
        return found

    def index(self, message: Any, handler: SerializerFunctionWrapHandler) -> int:
        found = self.by_id.get(id(message))
        if found is None:
            row = handler([message])[0]
            key = json.dumps(row, sort_keys=True, default=str)
            found = self.by_content.get(key)
            if found is None:
                found = self.by_content[key] = len(self.rows)
                self.rows.append(row)
            self.by_id[id(message)] = found
            self.keep.append(message)
        return found


_message_table: contextvars.ContextVar[Optional[_MessageTable]] = contextvars.ContextVar(
    "lllm_session_message_table", default=None
)


def expand_wire(request: Any, wire_table: List[Any]) -> Any:
    """A stored ``request`` with its ``wire_table`` indices replaced by the entries (schema 3)."""
    body = request.get("body") if isinstance(request, dict) else None
    if not isinstance(body, dict):
        return request
    out = dict(body)
    for key in WIRE_LISTS:
        ref = body.get(key)
        if isinstance(ref, dict) and list(ref) == ["$wire"]:
            out[key] = [wire_table[i] for i in ref["$wire"]]
    return {**request, "body": out}


class InvokeTrace(BaseModel):
    """One model invocation attempt: exactly what was sent and what came back (§9.3)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    step: int
    attempt: int = 0
    model: str = ""
    model_args: Dict[str, Any] = Field(default_factory=dict)
    tools: List[str] = Field(default_factory=list)
    messages: List[Message] = Field(default_factory=list)  # exactly what was sent, after context management
    request: Dict[str, Any] = Field(default_factory=dict)  # the provider's wire request, when it has one
    raw_response: Any = None
    message: Optional[Message] = None
    errors: List[Dict[str, str]] = Field(default_factory=list)
    retry_class: Optional[str] = None
    started_at: float = 0.0
    latency_s: float = 0.0
    usage: Dict[str, Any] = Field(default_factory=dict)
    replayed: bool = False  # a replay's answer taken from its recording: ``cost`` is the recorded one, nothing spent

    @property
    def cost(self) -> InvokeCost:
        return InvokeCost.from_usage(self.usage)

    @field_serializer("messages", mode="wrap")
    def _messages_by_reference(
        self, messages: List[Message], handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        """Inside a session written as JSON: indices into its ``message_table``; else the messages."""
        table = _message_table.get() if info.mode_is_json() else None
        if table is None:
            return handler(messages)
        return [table.index(m, handler) for m in messages]

    @field_serializer("request", mode="wrap")
    def _wire_by_reference(
        self, request: Dict[str, Any], handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        """Inside a session written as JSON: the body's wire messages and tools as indices into ``wire_table``."""
        data = handler(request)
        table = _message_table.get() if info.mode_is_json() else None
        if table is None or not isinstance(data, dict) or not isinstance(data.get("body"), dict):
            return data
        return {**data, "body": table.wire_body(data["body"])}


class AgentCallSession(_Record):
    """The record of one ``respond()``: state, delivery, and every attempt keyed by step. The budgets it
    ran under are recorded too (counts, ``max_retry_wait_s``, ``call_deadline_s``); ``reason`` names the
    one that ended a failed call."""

    agent_name: str
    model: str = ""
    max_exception_retry: int = 3
    max_interrupt_steps: int = 5
    max_llm_recall: int = 2
    rate_limit_retries: int = 6
    max_retry_wait_s: float = 60.0  # the longest single retry wait the call allowed
    call_deadline_s: Optional[float] = None  # the call's overall deadline, if it had one
    state: str = "initial"  # initial | exception | interrupt | llm_recall | success | failure
    delivery: Optional[Message] = None
    error: Optional[Dict[str, str]] = None
    reason: Optional[str] = None
    started_at: float = Field(default_factory=time.time)
    ended_at: Optional[float] = None
    exception_retries: Dict[int, List[Dict[str, str]]] = Field(default_factory=dict)
    interrupts: Dict[int, List[FunctionCall]] = Field(default_factory=dict)
    llm_recalls: Dict[int, List[Dict[str, str]]] = Field(default_factory=dict)
    rate_limit_waits: Dict[int, List[float]] = Field(default_factory=dict)
    invoke_traces: Dict[int, List[InvokeTrace]] = Field(default_factory=dict)

    # -- counts ------------------------------------------------------------------------------
    @property
    def exception_retries_count(self) -> int:
        """Recovery attempts after invalid output, over all steps."""
        return sum(len(v) for v in self.exception_retries.values())

    @property
    def llm_recalls_count(self) -> int:
        """Retries after transient provider errors."""
        return sum(len(v) for v in self.llm_recalls.values())

    @property
    def rate_limit_retries_count(self) -> int:
        """Retries after rate-limit errors."""
        return sum(len(v) for v in self.rate_limit_waits.values())

    @property
    def interrupts_count(self) -> int:
        """Steps that ended in tool calls."""
        return len(self.interrupts)

    @property
    def reach_max_exception_retry(self) -> bool:
        """Whether the exception-retry budget is spent."""
        return self.exception_retries_count >= self.max_exception_retry

    @property
    def reach_max_interrupt_steps(self) -> bool:
        """Whether the tool-step budget is spent."""
        return self.interrupts_count >= self.max_interrupt_steps

    @property
    def reach_max_llm_recall(self) -> bool:
        """Whether the recall budget is spent."""
        return self.llm_recalls_count >= self.max_llm_recall

    @property
    def invoke_count(self) -> int:
        """Model invocations attempted, failed ones included."""
        return sum(len(v) for v in self.invoke_traces.values())

    @property
    def cost(self) -> InvokeCost:
        """Every attempt's cost, retries and failed parses included."""
        return self._priced(include_replayed=True)

    @property
    def spent(self) -> InvokeCost:
        """``cost`` without the answers a replay took from its recording: what this call paid the provider."""
        return self._priced(include_replayed=False)

    def _priced(self, include_replayed: bool) -> InvokeCost:
        total = InvokeCost()
        for traces in self.invoke_traces.values():
            for t in traces:
                if t.usage and (include_replayed or not t.replayed):
                    total = total + t.cost
        return total

    # -- recorders ---------------------------------------------------------------------------
    def new_invoke_trace(self, trace: InvokeTrace) -> InvokeTrace:
        """Record one invocation attempt."""
        self.invoke_traces.setdefault(trace.step, []).append(trace)
        return trace

    def exception(self, exc: BaseException, step: int) -> None:
        """Record invalid output at ``step`` (a recovery follows)."""
        self.state = "exception"
        self.exception_retries.setdefault(step, []).append(error_record(exc))

    def interrupt(self, calls: List[FunctionCall], step: int) -> None:
        """Record the tool calls executed at ``step``."""
        self.state = "interrupt"
        self.interrupts.setdefault(step, []).extend(calls)

    def llm_recall(self, exc: BaseException, step: int) -> None:
        """Record a transient provider error at ``step`` (a retry follows)."""
        self.state = "llm_recall"
        self.llm_recalls.setdefault(step, []).append(error_record(exc))

    def rate_limited(self, delay_s: float, step: int) -> None:
        """Record a rate-limit wait of ``delay_s`` at ``step``."""
        self.rate_limit_waits.setdefault(step, []).append(delay_s)

    def success(self, message: Message) -> None:
        """The call delivered ``message``."""
        self.state = "success"
        self.delivery = message
        self.ended_at = time.time()

    def failure(self, exc: Optional[BaseException] = None, reason: Optional[str] = None) -> None:
        """The call failed: which budget ran out (``reason``) and the last error."""
        self.state = "failure"
        self.reason = reason
        if exc is not None:
            self.error = error_record(exc)
        self.ended_at = time.time()


class TacticCallSession(_Record):
    """The record of one tactic call: its agents' sessions, sub-tactic sessions, result and cost."""

    schema_version: int = SESSION_SCHEMA_VERSION
    tactic_name: str
    tactic_path: Optional[str] = None
    session_id: Optional[str] = None
    session_name: Optional[str] = None
    state: str = "initial"  # initial | running | success | failure
    task: Any = None
    config: Dict[str, Any] = Field(default_factory=dict)
    agent_sessions: Dict[str, List[AgentCallSession]] = Field(default_factory=dict)
    sub_tactic_sessions: Dict[str, List["TacticCallSession"]] = Field(default_factory=dict)
    dialogs: Dict[str, List[Dict[str, Any]]] = Field(default_factory=dict)
    delivery: Any = None
    delivery_type: Optional[str] = None  # set by the log store when a BaseModel delivery is stored as a dict
    error: Optional[str] = None
    error_traceback: Optional[str] = None
    started_at: float = Field(default_factory=time.time)
    ended_at: Optional[float] = None
    environment: Dict[str, Any] = Field(default_factory=dict)
    metadata: Dict[str, Any] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _compact_messages(self, handler: Any, info: SerializationInfo) -> Dict[str, Any]:
        """In JSON, store each distinct traced message once and refer to it by index."""
        if not info.mode_is_json():
            return handler(self)  # type: ignore[no-any-return]
        table = _MessageTable()
        token = _message_table.set(table)
        try:
            data: Dict[str, Any] = handler(self)
        finally:
            _message_table.reset(token)
        data["message_table"] = table.rows
        data["wire_table"] = table.wire_rows
        return data

    @model_validator(mode="before")
    @classmethod
    def _expand_messages(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "message_table" not in data:
            return data
        table, wire = data["message_table"], data.get("wire_table") or []
        data = {k: v for k, v in data.items() if k not in ("message_table", "wire_table")}
        data["agent_sessions"] = {
            name: [
                {
                    **agent,
                    "invoke_traces": {
                        step: [
                            {
                                **t,
                                "messages": [table[m] if isinstance(m, int) else m for m in t.get("messages", ())],
                                **({"request": expand_wire(t["request"], wire)} if wire and "request" in t else {}),
                            }
                            for t in traces
                        ]
                        for step, traces in agent.get("invoke_traces", {}).items()
                    },
                }
                if isinstance(agent, dict)
                else agent
                for agent in sessions
            ]
            for name, sessions in data.get("agent_sessions", {}).items()
        }
        return data

    def record_agent_call(self, agent_name: str, session: AgentCallSession) -> None:
        """Add one agent's AgentCallSession (the tactic does this for its agents)."""
        self.agent_sessions.setdefault(agent_name, []).append(session)

    def record_sub_tactic_call(self, name: str, session: "TacticCallSession") -> None:
        """Add a sub-tactic's session under ``name`` (automatic for attributes holding tactics)."""
        self.sub_tactic_sessions.setdefault(name, []).append(session)

    def success(self, result: Any) -> None:
        """The tactic returned ``result``."""
        self.state = "success"
        self.delivery = result
        self.ended_at = time.time()

    def failure(self, exc: Optional[BaseException] = None) -> None:
        """The tactic raised ``exc`` (recorded with its own traceback); without one only the state is set."""
        self.state = "failure"
        if exc is not None:
            self.error = f"{type(exc).__name__}: {exc}"
            self.error_traceback = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        self.ended_at = time.time()

    @property
    def agent_cost(self) -> InvokeCost:
        """The cost of this call's own agents."""
        return sum((s.cost for ss in self.agent_sessions.values() for s in ss), InvokeCost())

    @property
    def sub_tactic_cost(self) -> InvokeCost:
        """The cost of its sub-tactic calls (recursively)."""
        return sum((s.total_cost for ss in self.sub_tactic_sessions.values() for s in ss), InvokeCost())

    @property
    def total_cost(self) -> InvokeCost:
        """Agents plus sub-tactics: what the run costs, a replay's answers from its recording included."""
        return self.agent_cost + self.sub_tactic_cost

    @property
    def spent_cost(self) -> InvokeCost:
        """``total_cost`` without a replay's answers from its recording: what this run paid the provider."""
        own = sum((s.spent for ss in self.agent_sessions.values() for s in ss), InvokeCost())
        return own + sum((s.spent_cost for ss in self.sub_tactic_sessions.values() for s in ss), InvokeCost())

    @property
    def agent_call_count(self) -> int:
        """``respond()`` calls made by this call's agents."""
        return sum(len(ss) for ss in self.agent_sessions.values())

    @property
    def sub_tactic_call_count(self) -> int:
        """Sub-tactic calls made during this call."""
        return sum(len(ss) for ss in self.sub_tactic_sessions.values())

    def summary(self) -> Dict[str, Any]:
        """A small JSON-safe overview: id, tactic, state, counts, cost, error."""
        return {
            "session_id": self.session_id,
            "tactic": self.tactic_name,
            "tactic_path": self.tactic_path,
            "state": self.state,
            "agent_calls": self.agent_call_count,
            "sub_tactic_calls": self.sub_tactic_call_count,
            "total_cost_usd": round(self.total_cost.cost, 6),
            "spent_cost_usd": round(self.spent_cost.cost, 6),
            "total_cost": str(self.total_cost),  # 0.1.x key
            "error": self.error,
        }


__all__ = [
    "InvokeTrace",
    "AgentCallSession",
    "TacticCallSession",
    "error_record",
    "expand_wire",
    "SESSION_SCHEMA_VERSION",
    "WIRE_LISTS",
]
