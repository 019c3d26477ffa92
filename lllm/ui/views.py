"""One stored session as the ``lllm ui`` session page shows it: the tactic tree (agents, invokes, tool calls,
dialogs, sub-tactics), the invoke waterfall, cost per agent and per model, and the sessions replayed from it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from lllm.core.message import InvokeCost
from lllm.core.sessions import expand_wire
from lllm.errors import LLLMError

_BIG_REQUEST_KEYS = ("messages", "input", "contents")
_WATERFALL_KEYS = (
    "agent",
    "call",
    "step",
    "attempt",
    "model",
    "started_at",
    "latency_s",
    "cost",
    "replayed",
    "errors",
    "tactic",
)


class BadRequest(LLLMError, ValueError):
    """A request the UI cannot answer as asked; the message names the parameter and what to send."""


def _iso(value: Any) -> str:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return str(when.astimezone(timezone.utc).isoformat(timespec="microseconds"))


def session_row(summary: Any) -> Dict[str, Any]:
    """A session summary as a list row: the index entry, its task preview as ``task``, UTC time with microseconds."""
    row: Dict[str, Any] = summary.model_dump(mode="json")
    row["task"] = row.pop("task_preview")
    row["timestamp"] = _iso(summary.timestamp)
    return row


def check_session_id(session_id: str) -> None:
    """``BadRequest`` unless ``session_id`` has the shape of a session id."""
    from lllm.logging.backends import is_segment

    if not is_segment(session_id):
        raise BadRequest(f"Invalid session id {session_id!r}: session ids look like 20260101_120000_0a1b2c3d")


def _record(store: Any, session_id: str) -> Optional[Dict[str, Any]]:
    """The stored record of a session (``LogStore.load_record``), or ``None`` if there is none."""
    check_session_id(session_id)
    try:
        rec: Dict[str, Any] = store.load_record(session_id)
    except KeyError:
        return None
    except ValueError as e:  # stored by a newer lllm
        raise BadRequest(str(e)) from None
    return rec


def _cost(usage: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    c = InvokeCost.from_usage(usage) if usage else InvokeCost()
    return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens, "cost": c.cost}


def _count(by_step: Optional[Dict[str, List[Any]]]) -> int:
    return sum(len(v) for v in (by_step or {}).values())


def _steps(by_step: Optional[Dict[str, List[Any]]]) -> List[Any]:
    return [x for _, items in sorted((by_step or {}).items(), key=lambda kv: int(kv[0])) for x in items]


def _message_refs(t: Dict[str, Any], table: List[Any]) -> List[Any]:
    """An invoke's messages as indexes into ``table``; messages stored inline (schema 1) are appended to it."""
    refs = []
    for m in t.get("messages") or []:
        if not isinstance(m, int):
            table.append(m)
            m = len(table) - 1
        refs.append(m)
    return refs


def _request(t: Dict[str, Any], wire: List[Any]) -> Dict[str, Any]:
    """The invoke's provider request, its message list shortened to a pointer at the messages shown above."""
    return {
        k: (f"[{len(v)} items: the messages above]" if k in _BIG_REQUEST_KEYS and isinstance(v, list) else v)
        for k, v in (expand_wire(t.get("request"), wire) or {}).items()
    }


def _trace(t: Dict[str, Any], agent: str, call: int, label: str, table: List[Any], wire: List[Any]) -> Dict[str, Any]:
    """One stored invoke trace as the page shows it."""
    return {
        "agent": agent,
        "call": call,
        "step": t.get("step", 0),
        "attempt": t.get("attempt", 0),
        "model": t.get("model") or "",
        "model_args": t.get("model_args") or {},
        "tools": t.get("tools") or [],
        "messages": _message_refs(t, table),
        "request": _request(t, wire),
        "response": t.get("message"),
        "raw_response": t.get("raw_response"),
        "errors": t.get("errors") or [],
        "retry_class": t.get("retry_class"),
        "started_at": t.get("started_at") or 0.0,
        "latency_s": t.get("latency_s") or 0.0,
        "usage": t.get("usage") or {},
        "tactic": label,
        "replayed": bool(t.get("replayed")),  # a replay's answer from its recording: priced, not paid again
        **_cost(t.get("usage")),
    }


def _agent_call(a: Dict[str, Any], name: str, call: int, traces: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One stored agent call as the page shows it, with its invoke ``traces``."""
    return {
        "name": name,
        "index": call,
        "model": a.get("model") or "",
        "state": a.get("state"),
        "reason": a.get("reason"),
        "error": a.get("error"),
        "started_at": a.get("started_at"),
        "ended_at": a.get("ended_at"),
        "cost": sum((tr["cost"] for tr in traces), 0.0),
        "spent": sum((tr["cost"] for tr in traces if not tr["replayed"]), 0.0),
        "invokes": traces,
        "tool_calls": _steps(a.get("interrupts")),
        "exception_retries": _count(a.get("exception_retries")),
        "llm_recalls": _count(a.get("llm_recalls")),
        "rate_limit_retries": _count(a.get("rate_limit_waits")),
        "delivery": a.get("delivery"),
    }


def _dialogs(s: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The tactic session's dialogs, each with its place in the dialog tree."""
    dialogs = []
    for name, ds in (s.get("dialogs") or {}).items():
        for d in ds:
            node = d.get("tree_node") or {}
            dialogs.append(
                {
                    "agent": name,
                    "alias": d.get("alias"),
                    "id": node.get("dialog_id"),
                    "parent_id": node.get("parent_id"),
                    "split_point": node.get("split_point"),
                    "top_prompt": d.get("top_prompt_path"),
                    "messages": d.get("messages") or [],
                }
            )
    return dialogs


def _tactic_node(s: Dict[str, Any], invokes: List[Dict[str, Any]], label: str) -> Dict[str, Any]:
    """One stored tactic session (the JSON the store keeps: invoke traces refer to ``message_table``
    by index) as the page's tree node; its invokes are also appended to ``invokes`` for the timeline."""
    table: List[Any] = list(s.get("message_table") or [])
    wire: List[Any] = list(s.get("wire_table") or [])  # schema 3: wire messages and tools by index
    agents = []
    for name, calls in (s.get("agent_sessions") or {}).items():
        for i, a in enumerate(calls):
            traces = [_trace(t, name, i, label, table, wire) for t in _steps(a.get("invoke_traces"))]
            invokes.extend(traces)
            agents.append(_agent_call(a, name, i, traces))
    subs = [
        {"tool": tool, "index": j, **_tactic_node(sub, invokes, f"{label}/{tool}#{j + 1}")}
        for tool, ss in (s.get("sub_tactic_sessions") or {}).items()
        for j, sub in enumerate(ss)
    ]
    return {
        "tactic_name": s.get("tactic_name"),
        "tactic_path": s.get("tactic_path"),
        "state": s.get("state"),
        "started_at": s.get("started_at"),
        "ended_at": s.get("ended_at"),
        "cost": sum((a["cost"] for a in agents), 0.0) + sum(sub["cost"] for sub in subs),
        "spent": sum((a["spent"] for a in agents), 0.0) + sum(sub["spent"] for sub in subs),
        "error": s.get("error"),
        "agents": agents,
        "dialogs": _dialogs(s),
        "subs": subs,
        "messages": table,
    }


def _totals(invokes: List[Dict[str, Any]], by: str) -> List[Dict[str, Any]]:
    """Invokes, tokens, cost, latency and errors summed per agent (``by="agent"``) or per model."""
    buckets: Dict[str, Dict[str, Any]] = {}
    for t in invokes:
        key = (t["model"] or "?") if by == "model" else t[by]
        zero = {"invokes": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "latency_s": 0.0, "errors": 0}
        b = buckets.setdefault(key, {"name": key, **zero})
        b["invokes"] += 1
        for k in ("prompt_tokens", "completion_tokens", "cost", "latency_s"):
            b[k] += t[k]
        b["errors"] += bool(t["errors"])
    return list(buckets.values())


def session_view(store: Any, session_id: str) -> Dict[str, Any]:
    """Everything the session page shows, JSON-ready: the tactic tree (agents, invokes, tool calls,
    dialogs, sub-tactics), a waterfall of invokes, cost per agent and model, and linked sessions.

    Built from the stored JSON as is (not re-validated): a 1,000-message session stays cheap."""
    rec = _record(store, session_id)
    if rec is None:
        raise KeyError(f"No session {session_id!r} in partition {store.partition!r} of {store.backend!r}")
    s = rec["session"]
    invokes: List[Dict[str, Any]] = []
    tree = _tactic_node(s, invokes, s.get("tactic_name") or "")
    children = [session_row(c) for c in store.list_sessions(tags={"lllm.replay_of": session_id}, limit=50)]
    meta = s.get("metadata") or {}
    return {
        "session_id": rec["session_id"],
        "timestamp": rec["timestamp"],
        "tags": rec.get("tags") or {},
        "metadata": rec.get("metadata") or {},
        "session_metadata": meta,
        "task": s.get("task"),
        "delivery": s.get("delivery"),
        "traceback": rec.get("traceback"),
        "config": s.get("config") or {},
        "tree": tree,
        "invokes": sorted(({k: t[k] for k in _WATERFALL_KEYS} for t in invokes), key=lambda t: t["started_at"]),
        "per_agent": _totals(invokes, "agent"),
        "per_model": _totals(invokes, "model"),
        "replay_of": meta.get("replay_of"),
        "children": children,
    }


__all__ = ["BadRequest", "check_session_id", "session_row", "session_view"]
