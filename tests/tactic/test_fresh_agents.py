"""A tactic builds (and checks) each agent once and clones it per call; overrides and per-call
resources still build afresh. ``Agent.clone`` gives the settings without the state."""

from __future__ import annotations

import pytest

from lllm import Agent, Runtime, Tactic
from lllm.core.spec import AgentSpec
from lllm.core.tactic import use_model

rt = Runtime("fresh-agent-tests")
CONFIG = {
    "global": {"model_name": "test", "model_args": {"temperature": 0.5}},
    "agent_configs": [{"name": "writer", "system_prompt": "You write."}],
}


class Writer(Tactic, runtime=rt):
    name = "writer_tactic"
    agent_group = ["writer"]

    def call(self, task: str) -> str:
        agent = self.agents["writer"]
        agent.model_args["seen"] = True  # a call may change its agent: the next call must not see it
        agent.open("d")
        agent.receive(task)
        return agent.respond().content


@pytest.fixture
def builds(monkeypatch):
    calls = []
    real = AgentSpec.build

    def counting(self, *a, **k):
        calls.append(self.model_name)
        return real(self, *a, **k)

    monkeypatch.setattr(AgentSpec, "build", counting)
    return calls


def test_agents_are_built_once_and_every_call_gets_a_fresh_one(builds):
    t = Writer(CONFIG)
    for task in ("one", "two", "three"):
        assert t(task, return_session=True).state == "success"
    assert builds == ["test"]
    ctxs = [t._begin("x", None, None) for _ in range(2)]
    a, b = (c.agents["writer"] for c in ctxs)
    assert a is not b and a.model_args is not b.model_args and a.tools is not b.tools
    assert a.model_args == {"temperature": 0.5} and not a.dialogs
    assert builds == ["test"]


def test_a_model_override_and_a_new_stream_handler_build_afresh(builds):
    t = Writer(CONFIG)
    t("one")
    with use_model("lllm/test"):  # another name for the offline model
        assert t("two", return_session=True).agent_sessions["writer"][0].model == "lllm/test"
    t.stream = object()  # the cached agent was built for the old handler
    t("three")
    assert builds == ["test", "lllm/test", "test"]


def test_clone_copies_settings_not_state():
    agent = Agent("a", "You help.", model="test", model_args={"temperature": 0.1}, tools=[], max_llm_recall=4)
    agent.open("d")
    agent.receive("hi")
    agent.respond()
    twin = agent.clone()
    assert (twin.name, twin.model, twin.max_llm_recall, twin.model_args) == ("a", "test", 4, {"temperature": 0.1})
    assert twin.dialogs == {} and twin.session_listeners == [] and twin._busy_lock is not agent._busy_lock
    twin.model_args["temperature"] = 0.9
    assert agent.model_args["temperature"] == 0.1
    twin.open("d")  # the original's dialog alias is free in the clone
    twin.receive("hello")
    assert twin.respond().content


def test_an_agent_holding_a_sandbox_cannot_be_cloned():
    agent = Agent("a", "You help.", model="test")
    agent.proxy_surface = object()
    with pytest.raises(ValueError, match="Agent 'a' holds a proxy sandbox; build a new agent"):
        agent.clone()


def test_an_agent_with_a_context_manager_is_built_for_every_call(builds):
    config = {
        "global": {"model_name": "test"},
        "agent_configs": [{"name": "writer", "system_prompt": "You write.", "context_manager": {"max_tokens": 10_000}}],
    }
    t = Writer(config)
    first, second = (t._begin(task, None, None).agents["writer"] for task in ("one", "two"))
    assert builds == ["test", "test"] and first.context_manager is not second.context_manager
    assert t("three") and builds == ["test", "test", "test"]
