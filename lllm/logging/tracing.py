"""Opt-in OpenTelemetry export: every finished tactic session becomes a span tree following the
GenAI semantic conventions (tactic → invoke_agent → chat / execute_tool).

Spans are built from the session record after the call, with its recorded timestamps, so tracing adds
nothing to the agent call path and nothing is sent anywhere unless you configure an OpenTelemetry
exporter. Every text a span carries is scrubbed of known credentials first (``lllm.secrets``), as
the log stores are. Requires ``opentelemetry-api`` (``pip install 'lllm[otel]'``)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from lllm.core.sessions import AgentCallSession, TacticCallSession
from lllm.secrets import all_secrets, hide

_hook: Optional[Callable[[TacticCallSession], None]] = None


def _ns(t: Optional[float]) -> Optional[int]:
    return int(t * 1e9) if t else None


def export_session(session: TacticCallSession, tracer: Any) -> None:
    """Emit ``session`` (and its sub-tactic sessions) as spans on ``tracer``, scrubbed of credentials."""
    _Spans(tracer).tactic(session, None)


class _Spans:
    """Builds one session's span tree on ``tracer``; every name and text attribute is scrubbed of credentials."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import trace

        self.tracer, self.trace, self.secrets = tracer, trace, all_secrets()

    def clean(self, text: Any) -> Any:
        return hide(text, self.secrets) if isinstance(text, str) and text else text

    def start(self, name: str, ctx: Any, start_time: Optional[int], attrs: Dict[str, Any]) -> Any:
        attributes = {k: self.clean(v) for k, v in attrs.items()}
        return self.tracer.start_span(self.clean(name), context=ctx, start_time=start_time, attributes=attributes)

    def fail(self, span: Any, description: Any, error_type: Any) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, self.clean(description or "")))
        span.set_attribute("error.type", self.clean(error_type))

    def tactic(self, s: TacticCallSession, ctx: Any) -> None:
        """A tactic span around its agent calls' spans, then its sub-tactics' spans."""
        span = self.start(
            f"tactic {s.tactic_name}",
            ctx,
            _ns(s.started_at),
            {
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.workflow.name": s.tactic_name,
                "lllm.tactic.path": s.tactic_path or s.tactic_name,
                "lllm.session.id": s.session_id or "",
                "lllm.session.state": s.state,
                "lllm.cost.usd": s.total_cost.cost,
            },
        )
        if s.state == "failure":
            self.fail(span, s.error, (s.error or "error").split(":")[0])
        inner = self.trace.set_span_in_context(span)
        for sessions in s.agent_sessions.values():
            for a in sessions:
                self.agent(a, inner)
        for subs in s.sub_tactic_sessions.values():
            for sub in subs:
                self.tactic(sub, inner)
        span.end(end_time=_ns(s.ended_at))

    def agent(self, a: AgentCallSession, ctx: Any) -> None:
        """An agent call's span around, step by step, its model calls' spans, then its tool calls' spans."""
        span = self.start(
            f"invoke_agent {a.agent_name}",
            ctx,
            _ns(a.started_at),
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": a.agent_name,
                "gen_ai.request.model": a.model,
                "lllm.agent.state": a.state,
            },
        )
        if a.state == "failure":
            self.fail(span, (a.error or {}).get("message", ""), a.reason or "error")
        inner = self.trace.set_span_in_context(span)
        for step in sorted(a.invoke_traces):
            end = self.chats(a, step, inner)
            self.tools(a, step, inner, end)
        span.end(end_time=_ns(a.ended_at))

    def chats(self, a: AgentCallSession, step: int, ctx: Any) -> Optional[float]:
        """A span per model call (attempt) of ``step``; when the last one ended (``None``: there was none)."""
        end = None
        for t in a.invoke_traces[step]:
            end = t.started_at + t.latency_s
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": t.model,
                "gen_ai.provider.name": str(t.request.get("provider", "")),
                "lllm.step": step,
                "lllm.attempt": t.attempt,
            }
            if t.usage:
                attrs["gen_ai.usage.input_tokens"] = int(t.usage.get("prompt_tokens") or 0)
                attrs["gen_ai.usage.output_tokens"] = int(t.usage.get("completion_tokens") or 0)
            if t.message is not None and t.message.model:
                attrs["gen_ai.response.model"] = t.message.model
            chat = self.start(f"chat {t.model}", ctx, _ns(t.started_at), attrs)
            if t.errors:
                self.fail(chat, t.errors[0].get("message", ""), t.errors[0].get("type", "error"))
            chat.end(end_time=_ns(end))
        return end

    def tools(self, a: AgentCallSession, step: int, ctx: Any, begin: Optional[float]) -> None:
        """A span per tool call of ``step``, each starting at ``begin`` (when the step's model calls ended)."""
        for call in a.interrupts.get(step, []):
            dur = call.duration_s or 0.0
            tool = self.start(
                f"execute_tool {call.name}",
                ctx,
                _ns(begin),
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": call.name,
                    "gen_ai.tool.call.id": call.id,
                },
            )
            if call.error_message:
                self.fail(tool, call.error_message, "tool_error")
            tool.end(end_time=_ns((begin or 0) + dur) if begin else None)


def enable_tracing(tracer_provider: Any = None) -> None:
    """Export every finished tactic session through OpenTelemetry (the global provider by default)."""
    global _hook
    from opentelemetry import trace

    from lllm._version import __version__
    from lllm.core.tactic import session_hooks

    disable_tracing()
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("lllm", __version__)
    _hook = lambda session: export_session(session, tracer)  # noqa: E731
    session_hooks.append(_hook)


def disable_tracing() -> None:
    global _hook
    from lllm.core.tactic import session_hooks

    if _hook is not None and _hook in session_hooks:
        session_hooks.remove(_hook)
    _hook = None


__all__ = ["enable_tracing", "disable_tracing", "export_session"]
