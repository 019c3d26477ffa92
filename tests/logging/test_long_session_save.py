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


class Talk(Tactic, register=False):
    name = "talk"
    agent_group = ["talker"]

    def call(self, task: str) -> str:
        a = self.agents["talker"]
        a.open("main")
        out = ""
        for i in range(12):
            a.receive(f"turn {i}")
            out = a.respond().content
        return out


def test_wire_requests_store_each_message_once_and_round_trip(fake_servers):
    """Schema 3: the provider's wire messages are stored once in ``wire_table``, not once per request."""
    base = fake_servers("--latency-ms", "0")
    config = {
        "global": {"model_name": "openai/fake-model", "model_args": {"api_base": base, "api_key": "sk-wire-test"}},
        "agent_configs": [{"name": "talker", "system_prompt": "Talk."}],
    }
    session = Talk(config)("go", return_session=True)
    traces = [t for a in session.agent_sessions["talker"] for ts in a.invoke_traces.values() for t in ts]
    sent = [t.request["body"]["messages"] for t in traces]
    assert len(traces) == 12 and sum(map(len, sent)) == sum(range(2, 25, 2))  # each request resends the dialog

    data = json.loads(session.model_dump_json())
    assert data["schema_version"] == 3
    distinct = {json.dumps(m, sort_keys=True) for msgs in sent for m in msgs}
    assert len(data["wire_table"]) == len(distinct) <= 1 + 12 + 11  # the system prompt, each turn, each answer
    stored = [t for a in data["agent_sessions"]["talker"] for ts in a["invoke_traces"].values() for t in ts]
    assert all(set(t["request"]["body"]["messages"]) == {"$wire"} for t in stored)

    back = TacticCallSession.model_validate(data)
    again = [t for a in back.agent_sessions["talker"] for ts in a.invoke_traces.values() for t in ts]
    assert [t.request for t in again] == [t.request for t in traces]


def test_stored_wire_requests_load_and_show_in_full(fake_servers, tmp_path):
    """Through a real store: loading gives the wire messages back, and the session browser shows them whole."""
    from lllm.logging import sqlite_store
    from lllm.ui.api import session_view

    base = fake_servers("--latency-ms", "0")
    config = {
        "global": {"model_name": "openai/fake-model", "model_args": {"api_base": base, "api_key": "sk-wire-test"}},
        "agent_configs": [{"name": "talker", "system_prompt": "Talk."}],
    }
    store = sqlite_store(tmp_path / "s.db")
    session = Talk(config, log_store=store)("go", return_session=True)
    loaded = store.load_session(session.session_id)
    first = loaded.agent_sessions["talker"][0].invoke_traces
    assert [t.request for ts in first.values() for t in ts] == [
        t.request for ts in session.agent_sessions["talker"][0].invoke_traces.values() for t in ts
    ]
    view = session_view(store, session.session_id)
    last = view["tree"]["agents"][-1]["invokes"][-1]["request"]["body"]["messages"]
    assert [m["role"] for m in last[:3]] == ["system", "user", "assistant"] and last[-1]["content"] == "turn 11"


def test_body_lists_that_are_not_mappings_stay_inline():
    """Only lists of mappings are referenced: token ids or a plain string input are kept as they were."""
    from lllm.core.sessions import AgentCallSession, InvokeTrace

    body = {"input": [1, 2, 3], "messages": [], "system": "plain", "tools": [{"type": "function", "name": "f"}]}
    agent = AgentCallSession(agent_name="a", invoke_traces={0: [InvokeTrace(step=0, request={"body": body})]})
    data = json.loads(TacticCallSession(tactic_name="t", agent_sessions={"a": [agent]}).model_dump_json())
    stored = data["agent_sessions"]["a"][0]["invoke_traces"]["0"][0]["request"]["body"]
    assert stored["input"] == [1, 2, 3] and stored["messages"] == [] and stored["system"] == "plain"
    assert stored["tools"] == {"$wire": [0]}
    back = TacticCallSession.model_validate(data)
    assert back.agent_sessions["a"][0].invoke_traces[0][0].request["body"] == body
