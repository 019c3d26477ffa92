"""Waits are bounded in time, not only in count, and the default recall budget survives a flaky provider.

Everything goes through the real path: Agent (or Tactic) → native OpenAI-compatible invoker → real HTTP
→ the fake server. A call that would sleep is run under ``asyncio.wait_for`` with a generous bound, so a
regression fails the test instead of hanging it; no assertion depends on a tight timing."""

from __future__ import annotations

import asyncio
import random

import pytest
from support.fake_server import FakeServers

from lllm import Agent, Function, Tactic
from lllm.errors import AgentCallError, ConfigError, ProviderError
from lllm.packages.config import AgentSpec

BOUND_S = 25.0  # far below any wait these tests guard against (a day; 1000 s; a 30 s hang)


def agent_for(base_url: str, **kw) -> Agent:
    args = {"api_base": base_url, "api_key": "sk-test", **kw.pop("model_args", {})}
    agent = Agent(name="bounded", system_prompt="You answer.", model="openai/fake-model", model_args=args, **kw)
    agent.open("main")
    agent.receive("hello")
    return agent


async def respond_within_bound(agent: Agent) -> AgentCallError:
    """The AgentCallError of ``agent.arespond()``, which must come well before BOUND_S."""
    with pytest.raises(AgentCallError) as ei:
        await asyncio.wait_for(agent.arespond(), BOUND_S)
    return ei.value


# ---------------------------------------------------------------------------------------------
# max_retry_wait_s: the longest single wait
# ---------------------------------------------------------------------------------------------
async def test_a_day_long_retry_after_fails_at_once_and_says_why(fake_servers):
    url = fake_servers("--p429", "1", "--retry-after", "86400")
    FakeServers.stats(url, reset=True)
    err = await respond_within_bound(agent_for(url))
    assert err.reason == "retry_wait"
    text = str(err)
    assert "asked to wait 86400s" in text and "max_retry_wait_s=60s" in text and "raise max_retry_wait_s" in text
    assert isinstance(err.__cause__, ProviderError) and err.__cause__.status == 429
    s = err.session
    assert s.state == "failure" and s.reason == "retry_wait" and s.max_retry_wait_s == 60.0
    assert s.invoke_count == 1 and s.rate_limit_waits == {}  # no wait was recorded, none happened
    assert FakeServers.stats(url)["requests"] == 1


async def test_the_cap_is_configurable_and_applies_to_every_retry_after(fake_servers):
    url = fake_servers("--p429", "1", "--retry-after", "0.2")
    err = await respond_within_bound(agent_for(url, max_retry_wait_s=0.1))
    assert err.reason == "retry_wait" and "asked to wait 0.2s" in str(err) and "max_retry_wait_s=0.1s" in str(err)
    err = await respond_within_bound(agent_for(url, max_retry_wait_s=5, rate_limit_retries=1))
    assert err.reason == "llm_error" and "rate_limit_retries=1" in str(err)  # raised cap: it waited, then retried
    assert err.session.rate_limit_waits == {0: [0.2]} and err.session.invoke_count == 2


async def test_our_own_backoff_is_clamped_to_the_cap(fake_servers, monkeypatch):
    """Without a Retry-After the exponential backoff applies, never longer than max_retry_wait_s."""
    monkeypatch.setattr(Agent, "backoff_scale", 1000.0)  # 1..30 s * 1000 unless clamped
    url = fake_servers("--p500", "1")
    err = await respond_within_bound(agent_for(url, max_retry_wait_s=0.05, max_llm_recall=2))
    s = err.session
    assert err.reason == "llm_error" and s.llm_recalls_count == 2 and s.invoke_count == 3


# ---------------------------------------------------------------------------------------------
# call_deadline_s: one deadline over every retry, backoff and tool round
# ---------------------------------------------------------------------------------------------
async def test_deadline_stops_a_hanging_request(fake_servers):
    url = fake_servers("--phang", "1", "--hang-s", "30")
    err = await respond_within_bound(agent_for(url, call_deadline_s=0.5))  # the request timeout is 600 s
    assert err.reason == "deadline" and "call_deadline_s=0.5s" in str(err)
    assert err.session.state == "failure" and err.session.call_deadline_s == 0.5


async def test_deadline_covers_the_tool_rounds(fake_servers):
    """Each request is slow but fine; the rounds together pass the deadline."""
    url = fake_servers("--latency-ms", "300", "--tool-calls", "20")
    calls = []

    def lookup(city: str) -> str:
        """Look a city up."""
        calls.append(city)
        return f"sunny in {city}"

    agent = agent_for(url, tools=[Function.from_callable(lookup)], max_interrupt_steps=50, call_deadline_s=1.0)
    err = await respond_within_bound(agent)
    assert err.reason == "deadline" and "tool round(s)" in str(err)
    assert err.session.interrupts_count < 20 and not agent._busy  # stopped, and the agent is usable again


async def test_a_backoff_that_would_cross_the_deadline_fails_without_sleeping(fake_servers):
    url = fake_servers("--p429", "1", "--retry-after", "1000")
    err = await respond_within_bound(agent_for(url, max_retry_wait_s=2000, call_deadline_s=60))
    assert err.reason == "deadline" and "waiting 1000s" in str(err) and "call_deadline_s=60s" in str(err)
    assert err.session.invoke_count == 1 and err.session.rate_limit_waits == {}


def test_no_deadline_by_default_and_a_fast_call_is_unaffected(fake_servers):
    url = fake_servers("--latency-ms", "1")
    assert agent_for(url).respond(return_session=True).call_deadline_s is None
    s = agent_for(url, call_deadline_s=30).respond(return_session=True)
    assert s.state == "success" and s.call_deadline_s == 30.0


# ---------------------------------------------------------------------------------------------
# Validation, like the other budgets
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key,bad",
    [
        ("max_retry_wait_s", 0),
        ("max_retry_wait_s", -1),
        ("max_retry_wait_s", "60"),
        ("max_retry_wait_s", True),
        ("max_retry_wait_s", None),
        ("max_retry_wait_s", float("inf")),
        ("call_deadline_s", 0),
        ("call_deadline_s", float("nan")),
        ("call_deadline_s", "1m"),
    ],
)
def test_time_budgets_are_validated(key, bad):
    with pytest.raises(ConfigError, match=rf"Agent 'a': '{key}' must be .*, got .*\(a number of seconds > 0"):
        AgentSpec.from_config("a", {"model_name": "test", "system_prompt": "x", key: bad})
    with pytest.raises(ValueError, match=key):
        Agent(name="a", system_prompt="x", model="test", **{key: bad})


def test_time_budgets_come_from_the_agent_config(fake_servers):
    url = fake_servers("--p429", "1", "--retry-after", "86400")

    class Ask(Tactic, register=False):
        name = "ask_bounded"
        agent_group = ["asker"]

        def call(self, task: str) -> str:
            agent = self.agents["asker"]
            agent.open("main")
            agent.receive(task)
            return agent.respond().content

    config = {
        "global": {
            "model_name": "openai/fake-model",
            "model_args": {"api_base": url, "api_key": "sk-test"},
            "max_retry_wait_s": 7,
            "call_deadline_s": 40,
        },
        "agent_configs": [{"name": "asker", "system_prompt": "You answer."}],
    }
    with pytest.raises(AgentCallError) as ei:
        Ask(config)("hi")
    assert ei.value.reason == "retry_wait" and "max_retry_wait_s=7s" in str(ei.value)
    assert ei.value.session.call_deadline_s == 40.0


# ---------------------------------------------------------------------------------------------
# max_llm_recall defaults to 2 (0 in lllm-core 0.1.x)
# ---------------------------------------------------------------------------------------------
def _seed_failing_first_only(p: float) -> int:
    """A fake-server seed whose first request fails (draw < p) and whose second succeeds."""
    for seed in range(10_000):
        rng = random.Random(seed)
        if rng.random() < p <= rng.random():
            return seed
    raise AssertionError("no such seed")  # pragma: no cover


class Ask(Tactic, register=False):
    name = "ask_flaky"
    agent_group = ["asker"]

    def call(self, task: str) -> str:
        agent = self.agents["asker"]
        agent.open("main")
        agent.receive(task)
        return agent.respond().content


def _flaky_config(url: str, **agent) -> dict:
    return {
        "global": {"model_name": "openai/fake-model", "model_args": {"api_base": url, "api_key": "sk-test"}},
        "agent_configs": [{"name": "asker", "system_prompt": "You answer.", **agent}],
    }


def test_one_http_500_does_not_fail_a_tactic_by_default(fake_servers):
    url = fake_servers("--p500", "0.5", "--seed", str(_seed_failing_first_only(0.5)), "--tool-calls", "0")
    FakeServers.stats(url, reset=True)
    session = Ask(_flaky_config(url))("hi", return_session=True)
    assert session.state == "success" and session.delivery
    (agent_session,) = session.agent_sessions["asker"]
    assert agent_session.max_llm_recall == 2 and agent_session.llm_recalls_count == 1
    failed = agent_session.invoke_traces[0][0]
    assert failed.retry_class == "transient" and "500" in failed.errors[0]["message"]
    assert FakeServers.stats(url)["requests"] == 2


def test_max_llm_recall_0_still_fails_on_the_first_500(fake_servers):
    url = fake_servers("--p500", "1", "--tool-calls", "0")
    with pytest.raises(AgentCallError) as ei:
        Ask(_flaky_config(url, max_llm_recall=0))("hi")
    assert ei.value.reason == "llm_error" and "max_llm_recall=0" in str(ei.value)
    assert ei.value.session.invoke_count == 1


async def test_a_cancellation_is_never_lost_under_a_deadline():
    """A call cancelled as its loop finishes ends cancelled (``asyncio.wait_for`` before Python 3.12 returned
    the result instead, swallowing the cancellation, when the two met)."""
    from lllm.testing import MockInvoker

    rng, lost = random.Random(7), 0
    for _ in range(300):
        agent = Agent(
            "deadlined", "You answer.", model="mock-model", llm_invoker=MockInvoker(["hi"]), call_deadline_s=30
        )
        agent.open("main")
        agent.receive("hello")
        task = asyncio.ensure_future(agent.arespond())
        for _ in range(rng.randrange(0, 8)):
            await asyncio.sleep(0)
        if task.cancel():  # it had not finished: it must end cancelled
            try:
                await task
                lost += 1
            except asyncio.CancelledError:
                pass
    assert lost == 0
