"""Workers mean concurrency: a sync tactic run through ccall/bcall/`lllm batch` with 20 workers has 20
requests in flight at once at a real HTTP server (asyncio's default pool would cap it at cores + 4)."""

from __future__ import annotations

import asyncio

import pytest

from lllm import Tactic


class Ask(Tactic, register=False):
    name = "ask"
    agent_group = ["a"]

    def call(self, task: str) -> str:
        a = self.agents["a"]
        a.open("main")
        a.receive(task)
        return a.respond().content


class AsyncAsk(Ask, register=False):
    async def call(self, task: str) -> str:
        a = self.agents["a"]
        a.open("main")
        a.receive(task)
        return (await a.arespond()).content


def config(base: str) -> dict:
    return {
        "global": {"model_name": "gpt-4o-mini", "model_args": {"base_url": base, "api_key": "sk-local-test"}},
        "agent_configs": [{"name": "a", "system_prompt": "Answer."}],
    }


@pytest.mark.parametrize("cls", [Ask, AsyncAsk])
@pytest.mark.parametrize("driver", ["ccall", "bcall"])
def test_twenty_workers_have_twenty_requests_in_flight(fake_servers, cls, driver):
    base = fake_servers("--latency-ms", "800")
    fake_servers.stats(base, reset=True)
    tactic = cls(config(base))
    tasks = [f"task {i}" for i in range(20)]
    if driver == "bcall":
        out = tactic.bcall(tasks, max_workers=20)
    else:

        async def collect():
            return [r async for _, r in tactic.ccall(tasks, max_workers=20)]

        out = asyncio.run(collect())
    assert len(out) == 20 and all(isinstance(r, str) for r in out)
    stats = fake_servers.stats(base)
    assert stats["chat_requests"] == 20 and stats["peak_in_flight"] == 20
