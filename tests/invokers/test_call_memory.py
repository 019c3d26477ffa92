"""Memory held by finished and pending tactic runs on the native HTTP path (issue 11's concurrency goals).

Over real sockets (the benchmark's fake OpenAI server): a finished call must not be kept alive by the
HTTP client's cancelled request timers (they keep a copy of the context the request ran in), and
``ccall`` must hold one task per run in flight, not one per run."""

from __future__ import annotations

import asyncio
import gc
import warnings
import weakref
from typing import Any, List

import pytest
from support.fake_server import FakeServers

from lllm import Tactic


@pytest.fixture(scope="module")
def fake(fake_servers) -> FakeServers:
    return fake_servers


class Ask(Tactic, register=False):
    name = "memory_ask"
    agent_group = ["a"]
    tasks_seen: List[int] = []

    async def call(self, task: str) -> str:
        Ask.tasks_seen.append(
            sum(
                1
                for t in asyncio.all_tasks()  # ccall's tasks, one per started run
                if getattr(t.get_coro(), "__qualname__", "").endswith("ccall.<locals>.one")
            )
        )
        a = self.agents["a"]
        a.open("main")
        a.receive(task)
        return (await a.arespond()).content


def build(base: str) -> Ask:
    warnings.filterwarnings("ignore", message=".*has no log_store.*")
    return Ask(
        {
            "global": {"model_name": "openai/fake-model", "model_args": {"api_base": base, "api_key": "sk-fake"}},
            "agent_configs": [{"name": "a", "system_prompt": "Answer."}],
        }
    )


async def test_a_finished_call_is_freed_although_its_request_timer_is_still_scheduled(fake):
    tactic = build(fake("--latency-ms", "1"))
    sessions = [await tactic.acall(f"q{i}", return_session=True) for i in range(5)]
    loop = asyncio.get_running_loop()
    pending = [h for h in loop._scheduled if h.cancelled()]  # type: ignore[attr-defined]
    assert pending, "each request's total timeout leaves a cancelled timer in the loop until it is due"
    refs = [weakref.ref(s) for s in sessions]
    agents = [weakref.ref(a) for s in sessions for a in s.agent_sessions["a"]]
    assert all(s.state == "success" for s in sessions)
    del sessions
    gc.collect()
    assert [r() for r in refs] == [None] * 5  # the timers' context copies no longer hold the call
    assert [r() for r in agents] == [None] * 5


async def test_a_call_inside_a_call_still_records_under_its_parent(fake):
    base = fake("--latency-ms", "1")
    inner = build(base)

    class Outer(Tactic, register=False):
        name = "memory_outer"
        agent_group: List[str] = []

        async def call(self, task: str) -> Any:
            self.helper = inner
            first = await self.helper.acall(task)
            return first, await self.helper.acall(task + "!")

    session = await Outer({}).acall("q", return_session=True)
    assert [s.state for s in session.sub_tactic_sessions["helper"]] == ["success", "success"]


async def test_ccall_holds_a_task_per_run_in_flight_not_per_run(fake):
    tactic = build(fake("--latency-ms", "1"))
    Ask.tasks_seen = []
    out = {i: r async for i, r in tactic.ccall([f"q{i}" for i in range(60)], max_workers=4)}
    assert sorted(out) == list(range(60)) and all(out.values())
    assert len(Ask.tasks_seen) == 60
    assert max(Ask.tasks_seen) <= 4  # was 60: every run's task was created up front


async def test_ccall_fail_fast_never_starts_the_runs_after_a_failure():
    started: List[str] = []

    class Fails(Tactic, register=False):
        name = "memory_fails"
        agent_group: List[str] = []

        async def call(self, task: str) -> str:
            started.append(task)
            await asyncio.sleep(0)
            if task == "t1":
                raise ValueError("t1 fails")
            return task

    with pytest.raises(ValueError, match="t1 fails"):
        async for _ in Fails({}).ccall([f"t{i}" for i in range(20)], max_workers=2):
            pass
    assert started[:2] == ["t0", "t1"] and len(started) <= 4
