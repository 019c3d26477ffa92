"""``Tactic.acall`` saves its session off the event loop, and the session is saved when the call returns."""

from __future__ import annotations

import asyncio
import threading

from lllm import Tactic
from lllm.logging import LogStore
from lllm.logging.backends import LocalFileBackend

CONFIG = {"global": {"model_name": "test"}, "agent_configs": [{"name": "echo", "system_prompt": "Echo."}]}


class SlowBackend(LocalFileBackend):
    """Real files; the session record's ``put`` holds until a coroutine on the loop lets it go (or 5 s pass)."""

    def __init__(self, root):
        super().__init__(root)
        self.started, self.release = threading.Event(), threading.Event()
        self.released_by_loop = None
        self.thread = None

    def put(self, key, data):
        if "/sessions/" in f"/{key}" and not self.started.is_set():
            self.thread = threading.current_thread()
            self.started.set()
            self.released_by_loop = self.release.wait(5)  # False if the loop was blocked by this save
        super().put(key, data)


class Ask(Tactic, register=False):
    name = "ask_async_save"
    agent_group = ["echo"]

    async def call(self, task: str) -> str:
        agent = self.agents["echo"]
        agent.open("d")
        agent.receive(task)
        return (await agent.arespond()).content


def test_a_slow_save_does_not_block_other_coroutines_and_is_done_when_acall_returns(tmp_path):
    backend = SlowBackend(tmp_path)
    store = LogStore(backend)
    tactic = Ask(CONFIG, log_store=store)
    ticks = []

    async def ticker():
        while not backend.started.is_set():  # until the save is under way in its thread
            await asyncio.sleep(0.001)
        for i in range(3):  # these run only if the loop is free while the save waits
            ticks.append(i)
            await asyncio.sleep(0)
        backend.release.set()

    async def main():
        return await asyncio.gather(tactic.acall("hello", return_session=True), ticker())

    session, _ = asyncio.run(main())
    assert backend.released_by_loop is True and ticks == [0, 1, 2]
    assert backend.thread is not threading.main_thread()
    assert session.session_id  # set before acall returned
    assert store.load_session(session.session_id).session_name == session.session_name


def test_sync_call_still_saves_inline(tmp_path):
    backend = SlowBackend(tmp_path)
    backend.release.set()
    store = LogStore(backend)

    class SyncAsk(Tactic, register=False):
        name = "sync_ask_save"
        agent_group = ["echo"]

        def call(self, task: str) -> str:
            agent = self.agents["echo"]
            agent.open("d")
            agent.receive(task)
            return agent.respond().content

    session = SyncAsk(CONFIG, log_store=store)("hello", return_session=True)
    assert backend.thread is threading.main_thread() and session.session_id
    assert store.load_session(session.session_id).state == "success"
