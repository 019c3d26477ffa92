"""Exact offline replay and fork-and-rerun of recorded tactic sessions (§9.3).

A recorded session holds, per model invocation, exactly what was sent (model, arguments, tool names and
schemas, messages after context management) and what came back. ``ReplayInvoker`` answers a re-run from that
recording: each request must equal a recorded one (tool schemas included, when the recording holds the
request body the provider was sent), or the replay stops with a readable diff. Tool
calls are answered from the recording too, so a replay needs no network and no side effects. Given a
``fallback`` invoker, the first request that differs and every one after it go to that invoker
instead (fork-and-rerun), and the divergence point is reported. What a fork changes (config overrides,
prompt edits) and which tactic recorded a session are in ``lllm.logging.forks``; their names are also
importable from here, as before."""

from __future__ import annotations

import copy
import difflib
import json
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Generic, Iterable, List, Optional, Tuple, Type, TypeVar, Union

from lllm.core.const import APITypes
from lllm.core.dialog import prompt_substitute
from lllm.core.message import FunctionCall, Message
from lllm.core.sessions import AgentCallSession, InvokeTrace, TacticCallSession
from lllm.errors import LLLMError, ParseError, ProviderError
from lllm.invokers.base import BaseInvoker, InvokeResult, effective_functions
from lllm.logging.forks import (
    PromptEdit,
    PromptSubstitute,
    PromptUse,
    apply_overrides,
    override_value,
    prompt_edits,
    recorded_tactic,
    session_prompts,
    set_path,
    without_redacted,
)
from lllm.logging.redact import REDACTED
from lllm.secrets import scrub_text

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import RuntimeLike, SessionStore
    from lllm.core.tactic import Tactic

_VOLATILE_ARGS = frozenset({"timeout", "api_base", "base_url", "api_key", "extra_headers"})


def canonical_message(m: Message) -> Dict[str, Any]:
    """What of a message reaches the model: role, name, content, tool calls and the tool-call id."""
    d: Dict[str, Any] = {"role": m.role.value, "name": m.name, "content": m.content}
    if m.function_calls:
        d["function_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.function_calls]
    tcid = m.metadata.get("tool_call_id")
    if tcid:
        d["tool_call_id"] = tcid
    return d


def same(recorded: Any, live: Any) -> bool:
    """``recorded == live``, where a redacted secret in the recording (``"[REDACTED]"``, §9.3) matches
    whatever the re-run has in its place (a whole mapping or list an older lllm redacted too)."""
    if recorded == live:
        return True
    if recorded == REDACTED and isinstance(live, (dict, list)):
        return bool(live)
    if isinstance(recorded, str) and isinstance(live, str) and REDACTED in recorded:
        pattern = ".+?".join(re.escape(part) for part in recorded.split(REDACTED))
        return re.fullmatch(pattern, live, re.S) is not None
    if isinstance(recorded, dict) and isinstance(live, dict):
        return recorded.keys() == live.keys() and all(same(v, live[k]) for k, v in recorded.items())
    if isinstance(recorded, list) and isinstance(live, list):
        return len(recorded) == len(live) and all(same(a, b) for a, b in zip(recorded, live))
    return False


def _same_message(a: Message, b: Message) -> bool:
    """Equal as far as the model can tell (what ``canonical_message`` keeps), compared field by field;
    ``a`` is the recorded message."""
    if a is b:
        return True
    if a.role != b.role or a.name != b.name or not same(a.content, b.content):
        return False
    if a.metadata.get("tool_call_id") != b.metadata.get("tool_call_id") or len(a.function_calls) != len(
        b.function_calls
    ):
        return False
    return all(
        x.id == y.id and x.name == y.name and same(x.arguments, y.arguments)
        for x, y in zip(a.function_calls, b.function_calls)
    )


def _stable_args(model_args: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in model_args.items() if k not in _VOLATILE_ARGS}


def canonical_request(
    model: str,
    model_args: Dict[str, Any],
    tools: Iterable[str],
    messages: Iterable[Message],
    tool_schemas: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """The provider-independent form of one invocation, compared between a recording and a re-run
    (``tool_schemas``: each tool's description and parameters, by name, when known)."""
    out: Dict[str, Any] = {
        "model": model,
        "model_args": dict(sorted(_stable_args(model_args).items())),
        "tools": list(tools),
        "messages": [canonical_message(m) for m in messages],
    }
    if tool_schemas is not None:
        out["tool_schemas"] = tool_schemas
    return out


def _schema(name: Any, description: Any, parameters: Any) -> Tuple[str, Dict[str, Any]]:
    return str(name), {
        "description": description or "",
        "parameters": parameters or {"type": "object", "properties": {}},
    }


def recorded_tool_schemas(trace: InvokeTrace) -> Optional[Dict[str, Any]]:
    """The function tools' schemas (description, parameters) by name as the provider was sent them, from
    the recorded request body (OpenAI chat and Responses, Anthropic shapes); ``None`` when the recording
    has no body (older recordings, offline invokers), so only tool names can be compared."""
    body = trace.request.get("body") if isinstance(trace.request, dict) else None
    if not isinstance(body, dict):
        return None
    out: Dict[str, Any] = {}
    for t in body.get("tools") or ():
        if not isinstance(t, dict):
            continue
        fn = t.get("function")
        if t.get("type") == "function" and isinstance(fn, dict) and "name" in fn:  # chat completions
            key, value = _schema(fn["name"], fn.get("description"), fn.get("parameters"))
        elif t.get("type") == "function" and "name" in t:  # Responses API (flat)
            key, value = _schema(t["name"], t.get("description"), t.get("parameters"))
        elif "input_schema" in t and "name" in t:  # Anthropic
            key, value = _schema(t["name"], t.get("description"), t.get("input_schema"))
        else:  # built-in and MCP tools are not Functions
            continue
        out.setdefault(key, value)
    return out


def live_tool_schemas(functions: Iterable[Any]) -> Dict[str, Any]:
    """The schemas (description, parameters) of the tools a re-run offers, by name, as every invoker sends them."""
    out: Dict[str, Any] = {}
    for f in functions:
        fn = f.to_tool().get("function") or {}
        key, value = _schema(f.name, fn.get("description"), fn.get("parameters"))
        out.setdefault(key, value)
    return out


def _schemas_to_compare(recorded: Optional[Dict[str, Any]], live: Dict[str, Any]) -> Tuple[Any, Any]:
    """The recorded and live schemas of the tools both name (``None``, ``None`` without a recorded body)."""
    if recorded is None:
        return None, None
    names = [n for n in live if n in recorded]
    return {n: recorded[n] for n in names}, {n: live[n] for n in names}


def request_diff(expected: Dict[str, Any], actual: Dict[str, Any], context: int = 3, max_lines: int = 80) -> str:
    """A unified diff of two canonical requests (recorded first), cut to ``max_lines``."""
    a = json.dumps(expected, indent=1, sort_keys=True, default=str).splitlines()
    b = json.dumps(actual, indent=1, sort_keys=True, default=str).splitlines()
    lines = list(difflib.unified_diff(a, b, "recorded", "re-run", n=context, lineterm=""))
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more diff lines)"]
    return "\n".join(lines)


def _agent_sessions(session: TacticCallSession) -> Iterable[AgentCallSession]:
    for sessions in session.agent_sessions.values():
        yield from sessions
    for subs in session.sub_tactic_sessions.values():
        for sub in subs:
            yield from _agent_sessions(sub)


_T = TypeVar("_T")


class _Recorded(Generic[_T]):
    """One recorded invocation (or tool call) and whether the re-run has consumed it."""

    __slots__ = ("item", "used")

    def __init__(self, item: _T):
        self.item, self.used = item, False


class ReplayInvoker(BaseInvoker):
    """Answers model calls (and tool calls) of a re-run from a recorded ``TacticCallSession``.

    Requests are matched per agent by their canonical form, in recorded order among equals, so
    parallel agents replay correctly. Without ``fallback`` a request with no recorded twin raises
    ``LLLMError`` with a diff against the next recorded request of that agent; with ``fallback`` it
    and everything after it go to the fallback invoker (``diverged_at`` says where)."""

    name = "replay"
    retry_waits = False  # recorded retries are replayed instantly

    def __init__(
        self,
        session: Union[TacticCallSession, Dict[str, Any]],
        fallback: Optional[BaseInvoker] = None,
        live_tools: bool = False,
    ):
        super().__init__({})
        self.live_tools = live_tools  # True: tool calls run for real, never answered from the recording
        if isinstance(session, dict):
            session = TacticCallSession.model_validate(session)
        self.session = session
        self.fallback = fallback
        self.diverged_at: Optional[Dict[str, Any]] = None
        self.replayed = 0
        self._lock = threading.Lock()
        self._calls: Dict[str, List[_Recorded[InvokeTrace]]] = {}
        self._tools: Dict[str, List[_Recorded[FunctionCall]]] = {}
        for s in _agent_sessions(session):
            calls = self._calls.setdefault(s.agent_name, [])
            for step in sorted(s.invoke_traces):
                for t in s.invoke_traces[step]:
                    calls.append(_Recorded(t))
            tools = self._tools.setdefault(s.agent_name, [])
            for step in sorted(s.interrupts):
                for c in s.interrupts[step]:
                    tools.append(_Recorded(c))

    # -- model calls --------------------------------------------------------------------------
    def call(
        self,
        dialog: Any,
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Any = None,
        *,
        functions: Optional[List[Any]] = None,
    ) -> InvokeResult:
        recorded = self._replayed(dialog, model, model_args, responder, metadata, functions)
        if recorded is not None:
            return recorded
        assert self.fallback is not None  # without one, _replayed raises on a request it has no twin for
        return self.fallback.call(
            dialog, model, model_args, parser_args, responder, metadata, api_type, stream_handler, functions=functions
        )

    async def acall(
        self,
        dialog: Any,
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Any = None,
        *,
        functions: Optional[List[Any]] = None,
    ) -> InvokeResult:
        recorded = self._replayed(dialog, model, model_args, responder, metadata, functions)
        if recorded is not None:
            return recorded
        assert self.fallback is not None  # without one, _replayed raises on a request it has no twin for
        return await self.fallback.acall(
            dialog, model, model_args, parser_args, responder, metadata, api_type, stream_handler, functions=functions
        )

    def _replayed(
        self,
        dialog: Any,
        model: str,
        model_args: Optional[Dict[str, Any]],
        responder: str,
        metadata: Optional[Dict[str, Any]],
        functions: Optional[List[Any]],
    ) -> Optional[InvokeResult]:
        """The recorded answer to this request, or ``None`` once the re-run has diverged (to the fallback)."""
        if self.diverged_at is not None:
            return None
        fns = effective_functions(dialog, functions)
        sent = (model, dict(model_args or {}), [f.name for f in fns], list(dialog.messages))
        schemas = live_tool_schemas(fns)
        trace = self._take(responder, *sent, schemas)
        if trace is not None:
            return self._answer(trace, metadata)
        self._diverge(responder, sent, schemas)
        return None

    def _take(
        self,
        responder: str,
        model: str,
        model_args: Dict[str, Any],
        tools: List[str],
        messages: List[Message],
        schemas: Dict[str, Any],
    ) -> Optional[InvokeTrace]:
        args = _stable_args(model_args)
        with self._lock:
            for rec in self._calls.get(responder, ()):
                t = rec.item
                if (
                    not rec.used
                    and t.model == model
                    and t.tools == tools
                    and len(t.messages) == len(messages)
                    and same(_stable_args(t.model_args), args)
                    and all(_same_message(a, b) for a, b in zip(t.messages, messages))
                    and same(*_schemas_to_compare(recorded_tool_schemas(t), schemas))
                ):
                    rec.used = True
                    self.replayed += 1
                    return t
        return None

    def _diverge(self, responder: str, sent: Tuple[Any, ...], schemas: Dict[str, Any]) -> None:
        pending = [r.item for r in self._calls.get(responder, ()) if not r.used]
        diff = "(the recording has no further call)"
        if pending:
            first = pending[0]
            was, now = _schemas_to_compare(recorded_tool_schemas(first), schemas)
            expected = canonical_request(first.model, first.model_args, first.tools, first.messages, was)
            diff = request_diff(expected, canonical_request(sent[0], sent[1], sent[2], sent[3], now))
            changed = [n for n in now or () if not same(was[n], now[n])]
            if changed:
                diff = f"the schema of tool(s) {changed} changed since the recording\n{diff}"
        diff = scrub_text(diff)  # the re-run's request holds live credentials the recording has redacted
        index = sum(r.used for r in self._calls.get(responder, ()))
        where = {"agent": responder, "call_index": index, "replayed": self.replayed, "diff": diff}
        if self.fallback is None:
            raise LLLMError(
                f"Replay diverged at agent '{responder}', call #{index + 1} (after {self.replayed} "
                f"replayed call(s)): the request differs from the recording.\n{diff}"
            )
        self.diverged_at = where

    @staticmethod
    def _answer(trace: InvokeTrace, metadata: Optional[Dict[str, Any]]) -> InvokeResult:
        if trace.message is None:  # a recorded provider failure: raise it again, same retry class
            err = trace.errors[0] if trace.errors else {"message": "recorded provider error"}
            raise ProviderError(err.get("message", ""), kind=trace.retry_class, retry_after=0.0)
        msg = trace.message.model_copy(deep=True)
        msg.metadata.pop("dialog_id", None)
        if metadata:
            msg.metadata.update(metadata)
        errors: List[Exception] = [ParseError(e.get("message", "")) for e in trace.errors]
        return InvokeResult(
            message=msg,
            raw_response=trace.raw_response,
            model_args=dict(trace.model_args),
            execution_errors=errors,
            request=trace.request,
            started_at=time.time(),
            latency_s=0.0,
            replayed=True,
        )

    def classify_error(self, exc: BaseException) -> Optional[str]:
        if isinstance(exc, ProviderError) or self.fallback is None:
            return super().classify_error(exc)
        return self.fallback.classify_error(exc)

    # -- tool calls ---------------------------------------------------------------------------
    def recorded_tool_call(self, agent: str, call: FunctionCall) -> Optional[FunctionCall]:
        """The recorded execution of ``call`` (no side effects), or ``None`` to run the tool for real."""
        if self.diverged_at is not None or self.live_tools:
            return None
        with self._lock:
            for rec in self._tools.get(agent, ()):
                c = rec.item
                if not rec.used and c.id == call.id and c.name == call.name and same(c.arguments, call.arguments):
                    rec.used = True
                    return copy.deepcopy(rec.item)
        return None


def rerun(
    session: Union[TacticCallSession, Dict[str, Any]],
    *,
    tactic: Union[Type["Tactic"], "Tactic", None] = None,
    runtime: Optional["RuntimeLike"] = None,
    overrides: Optional[Dict[str, Any]] = None,
    invoker: Optional[BaseInvoker] = None,
    log_store: Optional["SessionStore"] = None,
    tags: Optional[Dict[str, str]] = None,
    model: Optional[str] = None,
    prompts: Optional[Dict[str, str]] = None,
    live_tools: bool = False,
) -> TacticCallSession:
    """Re-run a recorded tactic session and return the new session.

    Without ``invoker`` the re-run is an exact offline replay (a diverging request raises). With one
    (a live model, or ``TestInvoker``), requests identical to the recording are answered from it and
    the first differing one and all after go to ``invoker``: fork-and-rerun. ``overrides`` are
    applied to the recorded config (see ``apply_overrides``: nested dicts or dotted paths such as
    ``agent_configs.writer.system_prompt``; one that changes nothing is refused). ``prompts`` maps a
    prompt's key (``pkg.prompts:ask``, or its short path ``ask`` when only one prompt has it) to a new
    template for this re-run only (see ``prompt_edits``). The new session's metadata links to the
    recorded one (``replay_of``, also the tag ``lllm.replay_of``), names the edited prompts
    (``prompt_overrides``) and the point of divergence (``diverged_at``).
    ``model`` puts every agent, sub-tactics included, on that model (``use_model``); by default the
    recorded run's own override (``metadata["model_override"]``, e.g. ``lllm run --model``) is applied again.
    ``live_tools`` runs every tool call for real instead of answering it from the recording."""
    from lllm.core.tactic import Tactic, use_invoker, use_model

    if isinstance(session, dict):
        session = TacticCallSession.model_validate(session)
    cls = recorded_tactic(session, tactic, runtime)
    config = apply_overrides(without_redacted(session.config), overrides or {})
    edits = prompt_edits(session, prompts, runtime=runtime, tactic=cls) if prompts else {}
    replay = ReplayInvoker(session, fallback=invoker, live_tools=live_tools)
    meta: Dict[str, Any] = {"replay_of": session.session_id, "replay_mode": "fork" if invoker is not None else "exact"}
    tags = {"lllm.replay_of": session.session_id or "", **(tags or {})}  # listings tell replays apart by it
    if edits:
        meta["prompt_overrides"] = {key: e.template for key, e in edits.items()}
    token = prompt_substitute.set(PromptSubstitute(edits)) if edits else None
    try:  # the Tactic is built inside: it renders nothing then, but its agents' system prompts resolve there
        store = None if log_store is None else _StampingStore(log_store, replay, meta)
        instance = (
            cls(config, runtime=runtime, log_store=store, tactic_path=session.tactic_path)
            if isinstance(cls, type) and issubclass(cls, Tactic)
            else cls
        )
        with use_invoker(replay), use_model(model or session.metadata.get("model_override")):
            new: TacticCallSession = instance(session.task, tags=tags, metadata=meta, return_session=True)
    finally:
        if token is not None:
            prompt_substitute.reset(token)
    new.metadata["diverged_at"] = replay.diverged_at
    new.metadata["replayed_calls"] = replay.replayed
    return new


class _StampingStore:
    """The re-run's log store: the re-run's own session is saved with ``diverged_at`` and ``replayed_calls`` in
    its metadata (known only once it ends); everything else goes to ``store`` unchanged."""

    def __init__(self, store: Any, replay: ReplayInvoker, meta: Dict[str, Any]):
        self.store, self.replay, self.meta = store, replay, meta

    def save_session(
        self, session: TacticCallSession, tags: Optional[Dict[str, str]] = None, metadata: Any = None
    ) -> str:
        if metadata is self.meta:  # the metadata rerun passed: the re-run's own session, not another tactic's
            stamp = {"diverged_at": self.replay.diverged_at, "replayed_calls": self.replay.replayed}
            session.metadata.update(stamp)
            metadata = {**metadata, **stamp}
        result: str = self.store.save_session(session, tags=tags, metadata=metadata)
        return result

    def __getattr__(self, name: str) -> Any:  # only for names the proxy lacks; none before __init__ (copy, pickle)
        if "store" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["store"], name)


__all__ = [
    "ReplayInvoker",
    "rerun",
    "recorded_tactic",
    "PromptUse",
    "PromptEdit",
    "session_prompts",
    "prompt_edits",
    "apply_overrides",
    "set_path",
    "override_value",
    "canonical_request",
    "canonical_message",
    "request_diff",
]
