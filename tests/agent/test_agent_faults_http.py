"""Provider faults end to end: Agent → native OpenAI-compatible invoker → real HTTP → fake server.

Each fault ends in success within its budget or in one AgentCallError whose reason names the budget;
never an unbounded wait, never a raw provider exception."""

from __future__ import annotations

import time

import pytest
from support.fake_server import FakeServers

from lllm import Agent, Function
from lllm.errors import AgentCallError, ProviderError


def agent_for(base_url: str, **kw) -> Agent:
    args = {"api_base": base_url, "api_key": "sk-test", **kw.pop("model_args", {})}
    agent = Agent(name="faulty", system_prompt="You answer.", model="openai/fake-model", model_args=args, **kw)
    agent.open("main")
    agent.receive("hello")
    return agent


def test_healthy_server_answers(fake_servers):
    url = fake_servers("--latency-ms", "1")
    msg = agent_for(url).respond()
    assert msg.content and msg.usage["prompt_tokens"] > 0 and msg.model


def test_429_exhausts_the_rate_limit_budget_with_exact_attempts(fake_servers):
    url = fake_servers("--p429", "1", "--retry-after", "0")
    FakeServers.stats(url, reset=True)
    with pytest.raises(AgentCallError) as ei:
        agent_for(url, rate_limit_retries=2).respond()
    err = ei.value
    assert err.reason == "llm_error" and "rate_limit_retries=2" in str(err)
    assert isinstance(err.__cause__, ProviderError) and err.__cause__.status == 429
    assert err.session.invoke_count == 3 and err.session.state == "failure"
    assert FakeServers.stats(url)["requests"] == 3
    first = err.session.invoke_traces[0][0]  # a failed attempt still records what was sent
    assert first.retry_class == "rate_limit" and first.request["body"]["messages"][-1]["content"] == "hello"
    assert "api_key" not in str(first.request) and "sk-test" not in str(first.request)


def test_retry_after_header_is_honoured(fake_servers):
    url = fake_servers("--p429", "1", "--retry-after", "0.4")
    t0 = time.perf_counter()
    with pytest.raises(AgentCallError):
        agent_for(url, rate_limit_retries=1).respond()
    assert time.perf_counter() - t0 >= 0.4


def test_500_uses_the_recall_budget(fake_servers):
    url = fake_servers("--p500", "1")
    with pytest.raises(AgentCallError) as ei:
        agent_for(url, max_llm_recall=2).respond()
    assert ei.value.reason == "llm_error" and ei.value.session.llm_recalls_count == 2
    assert "max_llm_recall=2" in str(ei.value)


def test_hang_past_the_timeout_is_bounded(fake_servers):
    url = fake_servers("--phang", "1", "--hang-s", "30")
    t0 = time.perf_counter()
    with pytest.raises(AgentCallError) as ei:
        agent_for(url, model_args={"timeout": 0.3}, max_llm_recall=1).respond()
    assert time.perf_counter() - t0 < 5
    assert ei.value.reason == "llm_error" and ei.value.session.invoke_count == 2


def test_intermittent_429_succeeds_within_budget(fake_servers):
    url = fake_servers("--p429", "0.5", "--retry-after", "0", "--seed", "7")
    for _ in range(3):
        assert agent_for(url, rate_limit_retries=10).respond().content


def test_tool_loop_over_http(fake_servers):
    url = fake_servers("--tool-calls", "2")
    seen = []

    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        seen.append(city)
        return f"sunny in {city}"

    agent = agent_for(url, tools=[Function.from_callable(get_weather)])
    s = agent.respond(return_session=True)
    assert s.state == "success" and len(s.interrupts) == 2 and seen
    assert s.invoke_count == 3


def test_streaming_through_the_agent_over_http(fake_servers):
    from lllm.core.stream import BaseStreamHandler

    class Collect(BaseStreamHandler):
        def __init__(self):
            self.pieces, self.done = [], 0

        def on_token(self, text):
            self.pieces.append(text)

        def on_done(self):
            self.done += 1

    handler = Collect()
    agent = agent_for(fake_servers("--latency-ms", "1"), stream_handler=handler)
    msg = agent.respond()
    assert "".join(handler.pieces) == msg.content and len(handler.pieces) > 1 and handler.done == 1
    assert msg.usage["completion_tokens"] > 0  # the usage chunk of the stream was read
