"""Exact offline replay and fork-and-rerun of recorded tactic sessions (§9.3).

A recorded session holds, per model invocation, exactly what was sent (model, arguments, tool names,
messages after context management) and what came back. ``ReplayInvoker`` answers a re-run from that
recording: each request must equal a recorded one, or the replay stops with a readable diff. Tool
calls are answered from the recording too, so a replay needs no network and no side effects. Given a
``fallback`` invoker, the first request that differs and every one after it go to that invoker
instead (fork-and-rerun), and the divergence point is reported."""

from __future__ import annotations

import copy
import difflib
import json
import re
import threading
import time
from typing import Any, Dict, Iterable, List, Optional, Union

from lllm.core.const import APITypes
from lllm.core.message import FunctionCall, Message
from lllm.core.sessions import AgentCallSession, InvokeTrace, TacticCallSession
from lllm.errors import ConfigError, LLLMError, ParseError, ProviderError
from lllm.invokers.base import BaseInvoker, InvokeResult, effective_functions
from lllm.logging.redact import REDACTED

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
    whatever the re-run has in its place."""
    if recorded == live:
        return True
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
    model: str, model_args: Dict[str, Any], tools: Iterable[str], messages: Iterable[Message]
) -> Dict[str, Any]:
    """The provider-independent form of one invocation, compared between a recording and a re-run."""
    return {
        "model": model,
        "model_args": dict(sorted(_stable_args(model_args).items())),
        "tools": list(tools),
        "messages": [canonical_message(m) for m in messages],
    }


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


class _Recorded:
    """One recorded invocation (or tool call) and whether the re-run has consumed it."""

    __slots__ = ("item", "used")

    def __init__(self, item: Any):
        self.item, self.used = item, False


class ReplayInvoker(BaseInvoker):
    """Answers model calls (and tool calls) of a re-run from a recorded ``TacticCallSession``.

    Requests are matched per agent by their canonical form, in recorded order among equals, so
    parallel agents replay correctly. Without ``fallback`` a request with no recorded twin raises
    ``LLLMError`` with a diff against the next recorded request of that agent; with ``fallback`` it
    and everything after it go to the fallback invoker (``diverged_at`` says where)."""

    name = "replay"
    retry_waits = False  # recorded retries are replayed instantly

    def __init__(self, session: Union[TacticCallSession, Dict[str, Any]], fallback: Optional[BaseInvoker] = None):
        super().__init__({})
        if isinstance(session, dict):
            session = TacticCallSession.model_validate(session)
        self.session = session
        self.fallback = fallback
        self.diverged_at: Optional[Dict[str, Any]] = None
        self.replayed = 0
        self._lock = threading.Lock()
        self._calls: Dict[str, List[_Recorded]] = {}
        self._tools: Dict[str, List[_Recorded]] = {}
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
        sent = (
            model,
            dict(model_args or {}),
            [f.name for f in effective_functions(dialog, functions)],
            list(dialog.messages),
        )
        trace = self._take(responder, *sent)
        if trace is not None:
            return self._answer(trace, metadata)
        self._diverge(responder, canonical_request(*sent))
        return None

    def _take(
        self, responder: str, model: str, model_args: Dict[str, Any], tools: List[str], messages: List[Message]
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
                ):
                    rec.used = True
                    self.replayed += 1
                    return t
        return None

    def _diverge(self, responder: str, key: Dict[str, Any]) -> None:
        pending = [r.item for r in self._calls.get(responder, ()) if not r.used]
        expected = (
            canonical_request(pending[0].model, pending[0].model_args, pending[0].tools, pending[0].messages)
            if pending
            else None
        )
        diff = request_diff(expected, key) if expected is not None else "(the recording has no further call)"
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
        )

    def classify_error(self, exc: BaseException) -> Optional[str]:
        if isinstance(exc, ProviderError) or self.fallback is None:
            return super().classify_error(exc)
        return self.fallback.classify_error(exc)

    # -- tool calls ---------------------------------------------------------------------------
    def recorded_tool_call(self, agent: str, call: FunctionCall) -> Optional[FunctionCall]:
        """The recorded execution of ``call`` (no side effects), or ``None`` to run the tool for real."""
        if self.diverged_at is not None:
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
    tactic: Any = None,
    runtime: Any = None,
    overrides: Optional[Dict[str, Any]] = None,
    invoker: Optional[BaseInvoker] = None,
    log_store: Any = None,
    tags: Optional[Dict[str, str]] = None,
    model: Optional[str] = None,
) -> TacticCallSession:
    """Re-run a recorded tactic session and return the new session.

    Without ``invoker`` the re-run is an exact offline replay (a diverging request raises). With one
    (a live model, or ``TestInvoker``), requests identical to the recording are answered from it and
    the first differing one and all after go to ``invoker``: fork-and-rerun. ``overrides`` are
    applied to the recorded config (see ``apply_overrides``: nested dicts or dotted paths such as
    ``agent_configs.writer.system_prompt``; one that changes nothing is refused). The new session's
    metadata links to the recorded one (``replay_of``) and the point of divergence (``diverged_at``).
    ``model`` puts every agent, sub-tactics included, on that model (``use_model``); by default the
    recorded run's own override (``metadata["model_override"]``, e.g. ``lllm run --model``) is applied again."""
    from lllm.core.tactic import Tactic, use_invoker, use_model

    if isinstance(session, dict):
        session = TacticCallSession.model_validate(session)
    cls = _tactic_class(session, tactic, runtime)
    config = apply_overrides(_without_redacted(session.config), overrides or {})
    replay = ReplayInvoker(session, fallback=invoker)
    instance = (
        cls(config, runtime=runtime, log_store=log_store, tactic_path=session.tactic_path)
        if isinstance(cls, type) and issubclass(cls, Tactic)
        else cls
    )
    meta = {"replay_of": session.session_id, "replay_mode": "fork" if invoker is not None else "exact"}
    with use_invoker(replay), use_model(model or session.metadata.get("model_override")):
        new = instance(session.task, tags=tags, metadata=meta, return_session=True)
    new.metadata["diverged_at"] = replay.diverged_at
    new.metadata["replayed_calls"] = replay.replayed
    return new


def set_path(config: Dict[str, Any], path: str, value: Any) -> Dict[str, Any]:
    """A copy of ``config`` with the dotted ``path`` set to ``value``; ``agent_configs.<name>.key``
    addresses the agent entry called ``name`` (a list in the config), as the CLI's ``--override`` does."""
    keys = [k for k in path.split(".")]
    if not path or any(not k for k in keys):
        raise ConfigError(
            f"override {path!r}: expected a dotted path such as 'global.model_name' or "
            f"'agent_configs.writer.system_prompt'"
        )
    out = copy.deepcopy(config)
    target: Any = out
    for i, k in enumerate(keys[:-1]):
        if isinstance(target, list):  # agent_configs: pick the entry by name
            entry = next((e for e in target if isinstance(e, dict) and e.get("name") == k), None)
            if entry is None:
                names = [e.get("name") for e in target if isinstance(e, dict)]
                raise ConfigError(f"override {path!r}: no agent '{k}' in {'.'.join(keys[:i])} (agents: {names})")
            target = entry
            continue
        if not isinstance(target, dict):
            raise ConfigError(f"override {path!r}: '{'.'.join(keys[:i])}' is a {type(target).__name__}, not a mapping")
        nxt = target.get(k)
        if nxt is None:
            nxt = target[k] = {}
        target = nxt
    if not isinstance(target, dict):
        raise ConfigError(f"override {path!r}: '{'.'.join(keys[:-1])}' is a {type(target).__name__}, not a mapping")
    target[keys[-1]] = value
    return out


def apply_overrides(config: Dict[str, Any], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """``config`` with ``overrides`` applied: a key with dots is a path (``set_path``), any other key is
    merged as ``base`` inheritance merges (``merge_configs``: agent entries by name). An override that leaves the config as it was raises ``ConfigError``: a fork that
    silently reproduces its parent is never what was meant."""
    from lllm.packages.config import merge_configs

    out = config
    for key, value in overrides.items():
        before = out
        if isinstance(key, str) and "." in key:
            out = set_path(out, key, value)
        else:
            out = merge_configs(out, {key: value})
        if out == before:
            raise ConfigError(
                f"override {key!r} = {value!r} changes nothing: the recorded config already has "
                f"that value. Check the path (e.g. 'agent_configs.writer.system_prompt') and value."
            )
    return out


def _tactic_class(session: TacticCallSession, tactic: Any, runtime: Any) -> Any:
    if tactic is not None:
        return tactic
    from lllm.core.tactic import stable_tactic_id
    from lllm.packages.runtime import get_default_runtime

    rt = runtime or get_default_runtime()
    for node in rt.iter_nodes("tactic"):
        cls = node.value
        if stable_tactic_id(node.namespace, cls.name) == session.tactic_path or node.key == session.tactic_path:
            return cls
    raise LLLMError(
        f"Cannot re-run session {session.session_id}: no tactic '{session.tactic_path}' is registered "
        f"in runtime '{rt.name}'. Load its package (load_runtime) or pass tactic=..."
    )


def _without_redacted(value: Any) -> Any:
    """The recorded config minus redacted secrets, so a re-run reads keys from the environment again."""
    if isinstance(value, dict):
        return {k: _without_redacted(v) for k, v in value.items() if v != "[REDACTED]"}
    if isinstance(value, list):
        return [_without_redacted(v) for v in value]
    return value


__all__ = [
    "ReplayInvoker",
    "rerun",
    "apply_overrides",
    "set_path",
    "canonical_request",
    "canonical_message",
    "request_diff",
]
