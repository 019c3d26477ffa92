"""Each mistake on the short path gets a specific exception (or warning) naming the culprit and the fix."""

from __future__ import annotations

import pytest
from shortpath_flow import Brief, make_flow

from lllm import Agent, AgentCallError, ConfigError, tactic
from lllm.testing import MockInvoker


def test_output_type_mismatch_after_retries():
    bad = MockInvoker(["not json", '{"title": "t"}', '{"title": 1, "summary": 2}', "still not json"])
    writer = Agent("writer", "Write a brief.", "gpt-4o-mini", llm_invoker=bad, output=Brief, max_exception_retry=3)
    with pytest.raises(AgentCallError) as e:
        writer.run("notes")
    assert e.value.reason == "exception_retries"
    assert "Agent 'writer'" in str(e.value) and "'Brief'" in str(e.value) and "3 recovery attempt(s)" in str(e.value)
    assert bad.remaining == 0  # the first answer and exactly three recoveries


def test_recovered_output_is_returned_typed():
    writer = Agent(
        "writer",
        "Write a brief.",
        "gpt-4o-mini",
        output=Brief,
        llm_invoker=MockInvoker(["oops", '```json\n{"title": "T", "summary": "S"}\n```']),
    )
    assert writer.run("notes") == Brief(title="T", summary="S")


def test_agent_with_no_model():
    agent = Agent("planner", "Plan.")
    with pytest.raises(ConfigError, match=r"Agent 'planner' has no model: pass model=.*'test'"):
        agent.run("tide pools")

    @tactic
    async def plan(topic: str) -> str:
        return await agent.arun(topic)

    with pytest.raises(ConfigError, match="has no model"):
        plan("x")
    configured = type(plan)({"global": {"model_name": "test"}})  # a config (or `lllm run --model`) supplies one
    assert configured("x").startswith("Test answer to: x")


def test_bad_output_and_endpoint_arguments():
    with pytest.raises(TypeError, match=r"Agent 'a': output must be a pydantic model class.*class Answer"):
        Agent("a", "x", "test", output=int)
    with pytest.raises(ConfigError, match=r"Agent 'a': base_url='http://b/v1' conflicts with model_args\['api_base'\]"):
        Agent("a", "x", "test", base_url="http://b/v1", model_args={"api_base": "http://a/v1"})


def test_two_agents_with_one_name_in_a_tactic():
    one, two = Agent("helper", "x", "test"), Agent("helper", "y", "test")

    @tactic
    async def both(task: str) -> str:
        await one.arun(task)
        return await two.arun(task)

    with pytest.raises(ConfigError, match="two different agents are named 'helper'"):
        both("x")


def test_decorating_the_wrong_thing():
    with pytest.raises(TypeError, match="@tactic decorates a function"):
        tactic(type("K", (), {}))
    with pytest.raises(TypeError, match="must take the task as its first positional parameter"):
        tactic(lambda: None)


def test_sync_run_inside_an_async_tactic():
    f = make_flow(model="test")

    @tactic
    async def wrong(topic: str) -> str:
        return f.researcher.run(topic)

    with pytest.raises(RuntimeError, match="await the async variant"):
        wrong("x")


def test_config_a_tactic_function_cannot_apply():
    f = make_flow(model="test")
    with pytest.raises(ConfigError, match=r"agent_configs\[0\] sets \['proxy'\], which a @tactic cannot apply"):
        type(f.brief)({"agent_configs": [{"name": "writer", "proxy": {}}]})
    with pytest.warns(UserWarning, match=r"config key\(s\) \['labels'\] are not read"):
        type(f.brief)({"labels": 1})
    misspelt = type(f.brief)({"agent_configs": {"wrtier": {"model_name": "test"}}})
    with pytest.warns(UserWarning, match=r"sets agent\(s\) \['wrtier'\], but this call ran only"):
        misspelt("x")


def test_config_overrides_reach_the_agents():
    f = make_flow(model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1")  # unreachable: the config moves them
    t = type(f.brief)(
        {"global": {"model_name": "test"}, "agent_configs": [{"name": "writer", "system_prompt": "Be brief."}]}
    )
    session = t("tide pools", return_session=True)
    assert session.state == "success"
    assert session.dialogs["writer"][0]["messages"][0]["content"] == "Be brief."
    assert f.writer.model == "gpt-4o-mini"  # the templates are untouched
