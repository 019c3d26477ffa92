"""The sessions and data the log conformance suites store: one complete sample session, a dated data set
with the answers its filters should give, and keys a backend must refuse."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Union

import pytest
from pydantic import BaseModel

from lllm.core.const import Roles
from lllm.core.dialog import Dialog
from lllm.core.message import FunctionCall, Message
from lllm.core.sessions import AgentCallSession, InvokeTrace, TacticCallSession
from lllm.logging.backends import LogBackend, NoOpBackend
from lllm.logging.store import LogStore

BASE_TIME = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
BAD_KEYS = [
    "",
    "/a",
    "a/",
    "a//b",
    "..",
    "../x",
    "a/../b",
    "a/..",
    "a..b",
    "a b",
    "a\\b",
    "a:b",
    "ä",
    "a/b\n",
    "a*b",
    "a%b",
    ".",
    "./a",
    "a/.",
    "a/./b",
]


def needs_storage(backend: LogBackend) -> None:
    """Skip the test on a backend that stores nothing."""
    if isinstance(backend, NoOpBackend):
        pytest.skip("NoOpBackend stores nothing")


def make_session(
    tactic_name: str = "pair",
    tactic_path: Optional[str] = "demo::pair",
    state: str = "success",
    started_at: Optional[datetime] = None,
    cost: float = 0.25,
    delivery: Any = "done",
) -> TacticCallSession:
    """A small but complete session: one agent call with an invoke trace, a tool call and a dialog."""
    when = (started_at or BASE_TIME).timestamp()
    call = FunctionCall(
        id="call_1", name="lookup", arguments={"q": "x"}, result={"n": 1}, result_str='{"n": 1}', duration_s=0.01
    )
    reply = Message(
        role=Roles.ASSISTANT,
        content="done",
        name="writer",
        model="test",
        usage={"prompt_tokens": 10, "completion_tokens": 5, "cost": cost},
    )
    agent = AgentCallSession(
        agent_name="writer", model="test", state="success", delivery=reply, started_at=when, ended_at=when + 1
    )
    agent.new_invoke_trace(
        InvokeTrace(
            step=0,
            request={"model": "test", "messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "lookup"}]},
            raw_response={"id": "r1"},
            message=reply,
            started_at=when,
            latency_s=0.5,
            usage=reply.usage,
        )
    )
    agent.interrupt([call], step=0)
    agent.success(reply)
    dialog = Dialog(
        [Message(role=Roles.SYSTEM, content="You write."), Message(role=Roles.USER, content="hi"), reply],
        owner="writer",
    )
    session = TacticCallSession(
        tactic_name=tactic_name,
        tactic_path=tactic_path,
        state=state,
        task={"topic": "x"},
        config={"global": {"model_name": "test", "model_args": {"max_tokens": 100}}},
        dialogs={"writer": [dialog.to_dict()]},
        started_at=when,
        ended_at=when + 2,
        environment={"python": "3"},
    )
    session.record_agent_call("writer", agent)
    session.delivery = delivery
    if state == "failure":
        session.error, session.error_traceback = "ValueError: boom", "Traceback (most recent call last):\n..."
    return session


class Delivery(BaseModel):
    """A typed delivery: stored as a dict with its type."""

    answer: str


class Opaque:
    """A value JSON cannot hold: stored as its ``str``."""

    def __str__(self) -> str:
        return "<opaque>"


def raise_here() -> None:
    """Raise from a frame of its own (the traceback names it)."""
    raise RuntimeError("from a helper")


def save_dataset(store: LogStore) -> List[Dict[str, Any]]:
    """20 sessions over 20 minutes (two share a start second), varied tags, paths and states."""
    saved = []
    for i in range(20):
        when = BASE_TIME + timedelta(minutes=min(i, 18))
        path = ["demo::alpha", "demo::beta", None][i % 3]
        state = "failure" if i % 4 == 0 else "success"
        tags = {"team": "ab"[i % 2], "run": str(i % 3)}
        sid = store.save_session(make_session(tactic_path=path, state=state, started_at=when), tags=tags)
        saved.append({"id": sid, "when": when, "path": path, "state": state, "tags": tags})
    return saved


def expected_ids(
    saved: List[Dict[str, Any]],
    tags: Optional[Dict[str, str]] = None,
    after: Any = None,
    before: Any = None,
    tactic_path: Optional[str] = None,
    state: Optional[str] = None,
    limit: Optional[int] = 100,
) -> List[str]:
    """The ids ``list_sessions`` should answer for ``saved`` under these filters, newest first."""

    def utc(t: Union[str, datetime]) -> datetime:
        d = datetime.fromisoformat(t.replace("Z", "+00:00")) if isinstance(t, str) else t
        return d if d.tzinfo else d.replace(tzinfo=timezone.utc)

    rows = [
        s
        for s in saved
        if all(s["tags"].get(k) == v for k, v in (tags or {}).items())
        and (after is None or s["when"] >= utc(after))
        and (before is None or s["when"] <= utc(before))
        and (tactic_path is None or s["path"] == tactic_path)
        and (state is None or s["state"] == state)
    ]
    rows.sort(key=lambda s: (s["when"], s["id"]), reverse=True)
    return [s["id"] for s in rows][:limit]


__all__ = [
    "BASE_TIME",
    "BAD_KEYS",
    "needs_storage",
    "make_session",
    "save_dataset",
    "expected_ids",
    "Delivery",
    "Opaque",
    "raise_here",
]
