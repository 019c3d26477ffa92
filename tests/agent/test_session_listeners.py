"""Session listeners are observers: one that raises is logged and neither breaks the call nor masks its error."""

from __future__ import annotations

import pytest

from lllm import Agent
from lllm.errors import ProviderError
from lllm.testing import MockInvoker


def make_agent(script):
    agent = Agent(
        name="bot",
        system_prompt="You are a bot.",
        model="mock-model",
        llm_invoker=MockInvoker(script),
        max_exception_retry=0,
    )
    agent.open("main")
    return agent


def broken(name, session):
    raise RuntimeError("listener bug")


def test_a_failing_listener_is_logged_and_the_others_still_run(caplog):
    agent = make_agent(["hello"])
    seen = []
    agent.session_listeners += [broken, lambda name, s: seen.append((name, s.state))]
    agent.receive("hi")
    with caplog.at_level("WARNING", logger="lllm.agent"):
        assert agent.respond().content == "hello"
    assert seen == [("bot", "success")]
    (rec,) = [r for r in caplog.records if "session listener" in r.getMessage()]
    assert "bot" in rec.getMessage() and "listener bug" in str(rec.exc_info[1])


def test_a_failing_listener_does_not_mask_the_calls_own_error():
    agent = make_agent([ProviderError("bad request", status=400)])
    agent.session_listeners.append(broken)
    agent.receive("hi")
    with pytest.raises(Exception) as info:
        agent.respond()
    assert "listener bug" not in str(info.value) and "bad request" in str(info.value)
