"""The short path end to end: the getting-started flow offline (model="test") and against a real local
HTTP server speaking the OpenAI wire format via base_url, with a tool round and typed output; per-call
agent copies under concurrency; batches; agents run outside any tactic."""

from __future__ import annotations

import asyncio
import json
from typing import List

import pytest
from pydantic import BaseModel, Field
from shortpath_flow import BRIEF, NOTES, QUESTIONS, SCRIPT, Brief, Plan, interactions, make_flow
from support.cassette_server import CassetteServer

from lllm import Agent, AgentCallSession, Tactic, TacticCallSession, tactic, tool
from lllm.core.functional import FunctionTactic


def test_offline_on_the_test_model():
    f = make_flow(model="test")
    result = f.brief("tide pools")
    assert isinstance(result, Brief) and result.title == "test title"
    session = f.brief("tide pools", return_session=True)
    assert isinstance(session, TacticCallSession) and session.state == "success"
    assert isinstance(f.brief, Tactic) and isinstance(f.brief, FunctionTactic) and f.brief.name == "brief"
    assert {k: len(v) for k, v in session.agent_sessions.items()} == {"planner": 1, "researcher": 1, "writer": 1}
    [research] = session.agent_sessions["researcher"]
    assert [c.name for calls in research.interrupts.values() for c in calls] == ["search"]
    assert f.searched == ["test query", "test query"]  # the tool ran once per tactic call
    assert isinstance(session.delivery, Brief) and session.delivery == result
    # the module-level agents are templates: the calls ran on per-call copies
    assert f.planner.dialogs == {} and f.researcher.dialogs == {}


@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama3.2"])  # a native OpenAI name, and one with no native route
def test_against_a_local_openai_compatible_server(model, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # the agent's base_url wins over the env
    with CassetteServer(interactions(SCRIPT)) as server:
        f = make_flow(model=model, base_url=server.url + "/v1", headers={"X-Team": "docs"}, timeout=20)
        result = f.brief("tide pools")
        server.assert_all_served()
    assert result == Brief(**BRIEF)
    assert f.searched == QUESTIONS
    bodies = [r["json"] for r in server.requests]
    assert [b["model"] for b in bodies] == [model] * 6
    assert bodies[0]["response_format"]["json_schema"]["name"] == "Plan"  # typed output requested
    assert [t["function"]["name"] for t in bodies[1]["tools"]] == ["search"]  # the coupled tool offered
    tool_msg = bodies[2]["messages"][-1]  # the tool round answered
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "call_1"
    assert NOTES[QUESTIONS[0].lower()] in tool_msg["content"]
    assert bodies[5]["response_format"]["json_schema"]["name"] == "Brief"
    assert "Anemones, crabs and sea stars live there." in bodies[5]["messages"][-1]["content"]
    assert all(r["headers"]["x-team"] == "docs" and "authorization" not in r["headers"] for r in server.requests)
    assert all("timeout" not in b and "api_base" not in b for b in bodies)  # client settings never reach the body


def test_api_key_is_sent_and_never_recorded():
    with CassetteServer(interactions(SCRIPT)) as server:
        f = make_flow(model="gpt-4o-mini", base_url=server.url + "/v1", api_key="sk-local-secret")
        session = f.brief("tide pools", return_session=True)
    assert all(r["headers"]["authorization"] == "Bearer sk-local-secret" for r in server.requests)
    assert "sk-local-secret" not in session.model_dump_json()


def test_two_concurrent_calls_never_share_dialogs():
    """Both calls are inside the search tool at once (it waits for the other), so they truly overlap."""
    inside, both = [], asyncio.Event()

    @tool
    async def search(query: str) -> str:
        """Look a topic up.

        Args:
            query: What to look for.
        """
        inside.append(query)
        if len(inside) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 10)
        return f"notes on {query}"

    researcher = Agent("researcher", "Answer using the search tool.", "test", tools=[search])

    @tactic
    async def ask(topic: str) -> str:
        return await researcher.arun(topic)

    async def main():
        return await asyncio.gather(ask.acall("crabs", return_session=True), ask.acall("kelp", return_session=True))

    a, b = asyncio.run(main())
    assert a.delivery.startswith("Test answer to: crabs") and b.delivery.startswith("Test answer to: kelp")
    for session, topic, other in ((a, "crabs", "kelp"), (b, "kelp", "crabs")):
        [dialog] = session.dialogs["researcher"]
        texts = json.dumps(dialog)
        assert topic in texts and other not in texts
        assert len(session.agent_sessions["researcher"]) == 1
    assert researcher.dialogs == {}


def test_gather_inside_one_call_runs_concurrently_on_fresh_dialogs():
    class TwoQuestions(BaseModel):
        questions: List[str] = Field(min_length=2)

    f = make_flow(gather=True, plan=TwoQuestions, model="test")
    session = f.brief("tide pools", return_session=True)
    assert session.state == "success"
    assert len(session.agent_sessions["researcher"]) == 2
    assert len(session.dialogs["researcher"]) == 2  # kept as "run" and "run_2" on the call's copy
    assert [c.name for s in session.agent_sessions["researcher"] for calls in s.interrupts.values() for c in calls] == [
        "search",
        "search",
    ]


def test_bcall_and_ccall():
    f = make_flow(model="test")
    results = f.brief.bcall(["tide pools", "kelp forests", "estuaries"], max_workers=3)
    assert [type(r) for r in results] == [Brief] * 3
    sessions = f.brief.bcall(["a", "b"], return_sessions=True)
    assert [s.task for s in sessions] == ["a", "b"] and sessions[0].session_name != sessions[1].session_name
    assert [s.metadata["batch_index"] for s in sessions] == [0, 1]

    async def stream():
        return sorted([i async for i, _ in f.brief.ccall(["x", "y"])])

    assert asyncio.run(stream()) == [0, 1]


class Topic(BaseModel):
    name: str
    audience: str


def test_sync_tactic_function_with_sync_runs_and_a_typed_task():
    writer = Agent("writer", "Write a brief.", "test", output=Brief)

    @tactic(name="sync_brief")
    def sync_brief(topic: Topic) -> Brief:
        return writer.run(f"{topic.name} for {topic.audience}")

    out = sync_brief('{"name": "tide pools", "audience": "kids"}')  # JSON text validated into the task model
    assert out == Brief(title="test title", summary="test summary")
    sessions = sync_brief.bcall([{"name": "a", "audience": "b"}] * 3, return_sessions=True, max_workers=3)
    assert all(s.state == "success" and len(s.agent_sessions["writer"]) == 1 for s in sessions)
    assert sessions[0].task == Topic(name="a", audience="b") and writer.dialogs == {}


def test_run_outside_a_tactic():
    agent = Agent("helper", "You help with {subject}.", "test", output=Plan)
    plan = agent.run("tide pools", subject="marine biology")
    assert plan == Plan(questions=["test questions"])
    session = agent.run("again", subject="biology", return_session=True)
    assert isinstance(session, AgentCallSession) and session.state == "success"
    assert list(agent.dialogs) == ["run"] and "biology" in agent.dialogs["run"].messages[0].text
    chat = Agent("chat", "Chat.", "test")
    chat.run("first")
    assert chat.run("second", continue_dialog=True).startswith("Test answer to: second")
    assert [m.text for m in chat.dialogs["run"].messages if m.role.value == "user"] == ["first", "second"]
    chat.run("third")  # a fresh dialog by default
    assert [m.text for m in chat.dialogs["run"].messages if m.role.value == "user"] == ["third"]

    async def both():
        return await asyncio.gather(chat.arun("one"), chat.arun("two"))  # concurrent runs of one agent

    assert [r.splitlines()[0] for r in asyncio.run(both())] == ["Test answer to: one", "Test answer to: two"]


def test_text_with_braces_and_structured_tasks_are_sent_verbatim():
    agent = Agent("echo", "Echo.", "test")
    assert agent.run("a {literal} {{brace}}") == "Test answer to: a {literal} {{brace}}"
    assert agent.run({"k": 1}) == 'Test answer to: {"k": 1}'
    assert agent.run(Brief(title="t", summary="s")) == 'Test answer to: {"title":"t","summary":"s"}'


def test_configured_agents_of_a_class_tactic_run_too():
    """The door works both ways: agents built from a config answer run/arun, and a module-level agent
    used inside a class-based tactic is copied per call and recorded like them."""
    helper = Agent("helper", "Help.", "test")

    class Mixed(Tactic):
        name = "shortpath_mixed"
        agent_group = ["writer"]

        async def call(self, task: str) -> str:
            first = await self.agents["writer"].arun(task)
            await helper.arun(task)
            return await self.agents["writer"].arun(first, continue_dialog=True)

    config = {"global": {"model_name": "test"}, "agent_configs": [{"name": "writer", "system_prompt": "Write."}]}
    session = Mixed(config)("x", return_session=True)
    assert session.delivery == "Test answer to: Test answer to: x"
    assert len(session.agent_sessions["writer"]) == 2 and len(session.agent_sessions["helper"]) == 1
    [writer_dialog] = session.dialogs["writer"]  # the follow-up continued the first run's dialog
    assert [m["content"] for m in writer_dialog["messages"] if m["role"] == "user"] == ["x", "Test answer to: x"]
    assert len(session.dialogs["helper"]) == 1 and helper.dialogs == {}


def test_a_tactic_function_is_a_tool_of_another_agent(recwarn):
    helper = Agent("helper", "Help.", "test")

    @tactic
    async def research(topic: str, depth: int = 1) -> str:
        """Research a topic and return notes."""
        return await helper.arun(f"{topic} (depth {depth})")

    tool_fn = research.as_function()
    assert tool_fn.name == "research" and tool_fn.description == "Research a topic and return notes."
    assert list(tool_fn.properties) == ["topic", "depth"] and tool_fn.required == ["topic"]
    boss = Agent("boss", "Delegate.", "test", tools=[tool_fn])

    @tactic
    async def top(task: str) -> str:
        return await boss.arun(task)

    session = top("kelp", return_session=True)
    assert session.delivery.endswith("Using research: Test answer to: test topic (depth 1)")
    [sub] = session.sub_tactic_sessions["research"]
    assert sub.state == "success" and list(sub.agent_sessions) == ["helper"]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_sync_tactic_keeps_every_run_dialog():
    researcher = Agent("researcher", "Answer.", "test")

    @tactic
    def two(topic: str) -> str:
        return researcher.run(topic) + researcher.run(topic + " again")

    session = two("kelp", return_session=True)
    assert len(session.agent_sessions["researcher"]) == 2 and len(session.dialogs["researcher"]) == 2
