"""A sub-tactic call that outlives its parent's call ends normally and is saved on its own."""

from __future__ import annotations

import asyncio

from lllm import Tactic
from lllm.logging import LogStore
from lllm.logging.backends import LocalFileBackend


class Slow(Tactic, register=False):
    name = "s7_slow_sub"

    def __init__(self, gate, **kw):
        super().__init__(**kw)
        self.gate = gate

    async def call(self, task: str) -> str:
        await self.gate.wait()
        return task.upper()


class Spawner(Tactic, register=False):
    """Starts its sub-tactic in the background and returns before it ends."""

    name = "s7_spawner"

    def __init__(self, gate, **kw):
        super().__init__(**kw)
        self.sub = Slow(gate, log_store=kw.get("log_store"))
        self.background: list = []

    async def call(self, task: str) -> str:
        self.background.append(asyncio.ensure_future(self.sub.acall(task)))
        await asyncio.sleep(0)  # the sub-tactic call has begun
        return "started"


def test_a_sub_tactic_call_that_outlives_its_parent_returns_and_is_saved(tmp_path):
    """It raised IndexError when it ended (its parent's call record had been emptied meanwhile): its
    result and its session were lost."""
    store = LogStore(LocalFileBackend(tmp_path))

    async def main():
        gate = asyncio.Event()
        parent = Spawner(gate, log_store=store)
        assert await parent.acall("x") == "started"
        gate.set()
        return await parent.background[0]

    assert asyncio.run(main()) == "X"
    states = sorted((s.tactic_name, s.state) for s in store.list_sessions())
    assert states == [("s7_slow_sub", "success"), ("s7_spawner", "success")]


def test_a_clone_of_a_call_agent_is_recorded_in_the_calls_session():
    """Agent.clone() (what the 'already responding' error advises for parallel calls) dropped the session
    listeners, so inside a tactic call the clone's calls, and their cost, were missing from the session."""
    config = {"global": {"model_name": "test"}, "agent_configs": [{"name": "echo", "system_prompt": "Echo."}]}

    class Twice(Tactic, register=False):
        name = "s7_twice"
        agent_group = ["echo"]

        async def call(self, task: str) -> list:
            async def ask(agent, text):
                agent.open("d")
                agent.receive(text)
                return (await agent.arespond()).content

            first = self.agents["echo"]
            return list(await asyncio.gather(ask(first, task), ask(first.clone(), task + "!")))

    session = Twice(config)("hi", return_session=True)
    assert session.delivery == ["Test answer to: hi", "Test answer to: hi!"]
    assert len(session.agent_sessions["echo"]) == 2 and session.agent_call_count == 2
