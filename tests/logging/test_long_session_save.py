"""Saving a long session converts each distinct traced message once, not once per trace that sent it."""

from __future__ import annotations

import json

import lllm.core.sessions as sessions
from lllm import Tactic, TacticCallSession
from lllm.testing import MockInvoker

TURNS = 60


class Chat(Tactic, register=False):
    name = "chat"
    agent_group = ["talker"]

    def call(self, task: str) -> str:
        a = self.agents["talker"]
        a.open("main")
        out = ""
        for i in range(TURNS):
            a.receive(f"turn {i}")
            out = a.respond().content
        return out


def _session() -> TacticCallSession:
    config = {"global": {"model_name": "mock"}, "agent_configs": [{"name": "talker", "system_prompt": "Talk."}]}
    return Chat(config, invoker=MockInvoker([f"answer {i}" for i in range(TURNS)]))("chat", return_session=True)


def test_each_distinct_message_is_converted_once(monkeypatch):
    session = _session()
    sent = sum(len(t.messages) for a in session.agent_sessions["talker"] for ts in a.invoke_traces.values() for t in ts)
    assert sent > 10 * TURNS  # every trace resends the growing dialog: quadratic if converted per reference
    calls = []
    real = json.dumps
    monkeypatch.setattr(sessions.json, "dumps", lambda *a, **k: calls.append(1) or real(*a, **k))
    data = session.model_dump(mode="json")
    distinct = 1 + 2 * TURNS - 1  # system prompt, each user turn; each answer but the last is resent
    assert len(data["message_table"]) == distinct
    assert len(calls) == distinct


def test_the_compact_form_round_trips_and_equal_messages_share_a_row():
    session = _session()
    data = session.model_dump(mode="json")
    traces = [t for a in data["agent_sessions"]["talker"] for ts in a["invoke_traces"].values() for t in ts]
    assert all(isinstance(i, int) for t in traces for i in t["messages"])
    back = TacticCallSession.model_validate(data)
    last = next(iter(back.agent_sessions["talker"][-1].invoke_traces.values()))[0]
    assert last.messages[-1].content == f"turn {TURNS - 1}" and len(last.messages) == 2 * TURNS
    # two distinct but equal message objects still share one row
    twin = back.model_copy(deep=True)
    merged = TacticCallSession(
        tactic_name="chat", agent_sessions={"talker": back.agent_sessions["talker"] + twin.agent_sessions["talker"]}
    )
    assert len(merged.model_dump(mode="json")["message_table"]) == len(data["message_table"])


def test_an_agent_session_alone_keeps_its_messages_inline():
    session = _session()
    agent = session.agent_sessions["talker"][0]
    dumped = agent.model_dump(mode="json")
    trace = next(iter(dumped["invoke_traces"].values()))[0]
    assert isinstance(trace["messages"][0], dict) and trace["messages"][0]["content"]
