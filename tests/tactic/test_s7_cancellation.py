"""Cancelling a tactic call mid-agent-call: the agent's session ends as a failure, the tactic's is saved."""

from __future__ import annotations

import asyncio

import pytest
from support.fake_server import FakeServers

from lllm import Tactic
from lllm.logging import LogStore
from lllm.logging.backends import LocalFileBackend


def config(url: str) -> dict:
    return {
        "global": {"model_name": "openai/fake-model", "model_args": {"api_base": url, "api_key": "sk-test"}},
        "agent_configs": [{"name": "slow", "system_prompt": "You answer."}],
    }


class Ask(Tactic, register=False):
    name = "s7_cancel_ask"
    agent_group = ["slow"]

    async def call(self, task: str) -> str:
        agent = self.agents["slow"]
        agent.open("d")
        agent.receive(task)
        return (await agent.arespond()).content


def test_cancelled_call_records_its_agent_session_as_ended_failure(fake_servers, tmp_path):
    url = fake_servers("--phang", "1", "--hang-s", "30")
    store = LogStore(LocalFileBackend(tmp_path))
    tactic = Ask(config(url), log_store=store)

    async def main():
        task = asyncio.ensure_future(tactic.acall("hello"))
        while (await asyncio.to_thread(FakeServers.stats, url))["requests"] < 1:  # the request hangs there
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    (summary,) = store.list_sessions()
    saved = store.load_session(summary.session_id)
    assert saved.state == "failure" and "CancelledError" in (saved.error or "")
    (agent_session,) = saved.agent_sessions["slow"]
    assert agent_session.state == "failure" and agent_session.ended_at is not None
    assert agent_session.error is not None and agent_session.error["type"] == "CancelledError"


def test_an_error_outside_the_budgets_ends_the_agent_session_as_failure():
    from lllm import Agent
    from lllm.testing import MockInvoker

    def broken_context(dialog):
        raise RuntimeError("context manager bug")

    seen = []
    agent = Agent("bot", "You are a bot.", model="mock-model", llm_invoker=MockInvoker(["hi"]))
    agent.context_manager = broken_context
    agent.session_listeners.append(lambda name, s: seen.append(s))
    agent.open("main")
    agent.receive("hello")
    with pytest.raises(RuntimeError, match="context manager bug"):
        agent.respond()
    (session,) = seen
    assert session.state == "failure" and session.ended_at is not None
    assert session.error["type"] == "RuntimeError" and "context manager bug" in session.error["message"]
    assert agent._busy is False  # the agent can be called again
