"""Where a call goes: a configured base URL is honoured however it is set, with one fixed precedence:
model_args (an Agent's base_url=) > invoker_config (base_url or api_base) > OPENAI_BASE_URL > the default."""

from __future__ import annotations

import json

import pytest
from shortpath_flow import interactions, text
from support.cassette_server import CassetteServer

from lllm import Agent, ConfigError, Tactic, register_invoker, tactic
from lllm.invokers.router import invoker_settings
from lllm.testing import MockInvoker

DEAD = "http://127.0.0.1:9/v1"  # nothing listens there: a call sent to it fails


class Ask(Tactic):
    name = "shortpath_ask"
    agent_group = ["a"]

    def call(self, task: str) -> str:
        agent = self.agents["a"]
        agent.open("d")
        agent.receive(task)
        return agent.respond().content


def config(**extra):
    return {"global": {"model_name": "gpt-4o-mini"}, "agent_configs": [{"name": "a", "system_prompt": "x"}], **extra}


@pytest.fixture
def servers(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    with CassetteServer(interactions([text("from A")] * 3)) as a, CassetteServer(interactions([text("from B")])) as b:
        yield a, b


def test_invoker_config_base_url_is_honoured_over_the_env(servers, monkeypatch):
    a, _ = servers
    monkeypatch.setenv("OPENAI_BASE_URL", DEAD)
    assert Ask(config(invoker_config={"base_url": a.url + "/v1"}))("hi") == "from A"
    assert Ask(config(invoker_config={"api_base": a.url + "/v1", "headers": {"X-Gw": "1"}}))("hi") == "from A"
    assert a.requests[1]["headers"]["x-gw"] == "1"


def test_model_args_win_over_invoker_config(servers, monkeypatch):
    a, b = servers
    cfg = config(invoker_config={"base_url": DEAD})
    cfg["global"]["model_args"] = {"api_base": b.url + "/v1"}
    assert Ask(cfg)("hi") == "from B"


def test_env_then_default(servers, monkeypatch):
    a, _ = servers
    monkeypatch.setenv("OPENAI_BASE_URL", a.url + "/v1")
    assert Agent("a", "x", "gpt-4o-mini").run("hi") == "from A"  # keyless: not OpenAI's own host


def test_agent_keyword_wins_over_a_tactic_invoker_config(servers):
    a, b = servers
    near = Agent("near", "x", "gpt-4o-mini", base_url=b.url + "/v1")
    far = Agent("far", "x", "gpt-4o-mini")

    @tactic(config={"invoker_config": {"base_url": a.url + "/v1"}})
    async def both(task: str) -> str:
        return f"{await near.arun(task)} / {await far.arun(task)}"

    assert both("hi") == "from B / from A"
    assert json.loads(b.requests[0]["raw"])["messages"][-1]["content"] == "hi"


def test_invoker_config_keys_that_would_be_ignored_are_refused():
    with pytest.raises(
        ConfigError,
        match=r"Tactic 'shortpath_ask': invoker_config key\(s\) \['timeout'\] are not read "
        r"by the 'auto' invoker.*model_args",
    ):
        Ask(config(invoker_config={"timeout": 5}))
    with pytest.raises(ConfigError, match="sets both 'base_url'"):
        invoker_settings({"base_url": "http://a/v1", "api_base": "http://b/v1"})
    seen = []
    register_invoker("shortpath_custom", lambda cfg: seen.append(cfg) or MockInvoker(["ok"]), overwrite=True)
    assert Ask(config(invoker="shortpath_custom", invoker_config={"anything": 1}))("hi") == "ok"  # its own keys
    assert seen == [{"anything": 1}]
    assert invoker_settings({"base_url": "u", "headers": {"h": "1"}}) == {"api_base": "u", "extra_headers": {"h": "1"}}


def test_a_name_with_no_native_route_goes_to_the_configured_base_url(servers):
    """``llama3.2`` is no OpenAI or Anthropic name: with a base URL set anywhere it is sent there in the
    OpenAI format (never to LiteLLM), also through a plain auto invoker such as a replay's fallback."""
    a, b = servers
    cfg = config(invoker_config={"base_url": a.url + "/v1"})
    cfg["global"]["model_name"] = "llama3.2"
    assert Ask(cfg)("hi") == "from A"
    from lllm.invokers.base import build_invoker

    auto = build_invoker({})
    agent = Agent("a", "x", "llama3.2", llm_invoker=auto, base_url=b.url + "/v1")
    assert agent.run("hi") == "from B"
    assert a.requests[0]["json"]["model"] == "llama3.2" and b.requests[0]["json"]["model"] == "llama3.2"
