"""Live call events (lllm.core.events): order while a call runs, nesting, failing listeners, no-listener cost,
and current_session()."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import lllm
from lllm import Agent, Tactic
from lllm.core import events as ev
from lllm.errors import ProviderError
from lllm.testing import MockInvoker

pytestmark = pytest.mark.filterwarnings("ignore:Tactic 'inner' has no @tactictool method")

CONFIG = {"global": {"model_name": "test"}, "agent_configs": [{"name": "helper", "system_prompt": "You help."}]}


def kinds(seen):
    return [type(e).__name__ for e in seen]


class Gated(Tactic, register=False):
    """Its agent's tool blocks until ``go`` is set."""

    name = "gated"
    agent_group = ["helper"]

    def __init__(self, config=None, **kw):
        super().__init__(config, **kw)
        self.go = threading.Event()

    def call(self, task):
        def wait_for_go(city: str) -> str:
            """Wait for the go signal."""
            return "released" if self.go.wait(30) else "never released"

        agent = self.agents["helper"]
        agent.tools = [wait_for_go]
        agent.open("t")
        agent.receive(task)
        return agent.respond().content


def test_events_arrive_in_order_while_the_call_runs():
    tactic = Gated(CONFIG)
    seen, tool_started = [], threading.Event()

    def listener(e):
        seen.append(e)
        if isinstance(e, ev.ToolCallStarted):
            tool_started.set()

    out = {}
    runner = threading.Thread(target=lambda: out.setdefault("r", tactic("go?", on_event=listener)))
    runner.start()
    try:
        assert tool_started.wait(30), kinds(seen)
        # the tool is blocked: the call is still running, and its start was already reported
        assert kinds(seen) == ["AgentCallStarted", "InvokeFinished", "ToolCallStarted"] and runner.is_alive()
    finally:
        tactic.go.set()
        runner.join(30)
    assert "released" in out["r"]
    assert kinds(seen) == [
        "AgentCallStarted",
        "InvokeFinished",
        "ToolCallStarted",
        "ToolCallFinished",
        "InvokeFinished",
        "AgentCallFinished",
    ]
    started, finished, done = seen[2], seen[3], seen[-1]
    assert started.name == finished.name == "wait_for_go" and started.id == finished.id
    assert started.arguments == {"city": "test city"} and "released" in finished.result and finished.error is None
    assert done.agent == "helper" and done.state == "success" and done.invokes == 2 and done.prompt_tokens > 0
    assert all(e.tactic == "gated" for e in seen) and [e.at for e in seen] == sorted(e.at for e in seen)


class Inner(Tactic, register=False):
    """Answer with one agent."""

    name = "inner"
    agent_group = ["helper"]

    def call(self, task):
        return self.agents["helper"].run(task)


class Outer(Tactic, register=False):
    name = "outer"

    def __init__(self, config=None, **kw):
        super().__init__(config, **kw)
        self.first = Inner(CONFIG)

    async def call(self, task):
        await self.first.acall(task)
        agent = Agent("caller", model="test", system_prompt="Use the tool.", tools=[Inner.as_function(CONFIG)])
        return await agent.arun(task)


def test_nested_sub_tactics_and_tactic_tools_report_to_the_same_listeners():
    seen = []
    with lllm.observe(seen.append):
        session = Outer({})("nest", return_session=True)
    assert session.state == "success"
    subs = [(type(e).__name__, e.tactic, e.name, e.sub_tactic) for e in seen if "SubTactic" in type(e).__name__]
    assert subs == [
        ("SubTacticStarted", "outer", "first", "inner"),
        ("SubTacticFinished", "outer", "first", "inner"),
        ("SubTacticStarted", "outer", "inner", "inner"),  # the tactic tool, recorded under the tool's name
        ("SubTacticFinished", "outer", "inner", "inner"),
    ]
    inner_agents = [e.agent for e in seen if isinstance(e, ev.AgentCallStarted) and e.tactic == "inner"]
    assert inner_agents == ["helper", "helper"]
    tool = next(e for e in seen if isinstance(e, ev.ToolCallStarted))
    assert (tool.tactic, tool.agent, tool.name) == ("outer", "caller", "inner")
    finished = [e for e in seen if isinstance(e, ev.SubTacticFinished)]
    assert all(e.state == "success" and e.agent_calls == 1 for e in finished)
    assert sorted(session.sub_tactic_sessions) == ["first", "inner"]
    assert not ev.listening()  # the block ended: nothing observes any more


async def test_acall_on_event_and_retries():
    agent = Agent(
        "flaky",
        model="m",
        system_prompt="s",
        llm_invoker=MockInvoker([ProviderError("503 busy", status=503, kind="transient"), "done"]),
    )
    agent.backoff_scale = 0.0

    class Once(Tactic, register=False):
        name = "once"

        async def call(self, task):
            return await agent.arun(task)

    seen = []
    assert await Once({}).acall("x", on_event=seen.append) == "done"
    assert kinds(seen) == [
        "AgentCallStarted",
        "InvokeFinished",
        "RetryScheduled",
        "InvokeFinished",
        "AgentCallFinished",
    ]
    failed, retry = seen[1], seen[2]
    assert failed.error == "ProviderError" and failed.attempt == 0 and seen[3].error is None and seen[3].attempt == 1
    assert (retry.kind, retry.delay_s, retry.agent) == ("transient", 0.0, "flaky") and "503 busy" in retry.error


def test_a_raising_listener_never_breaks_the_call(caplog):
    seen = []

    def broken(e):
        raise RuntimeError("listener bug")

    with caplog.at_level(logging.WARNING, logger="lllm.events"):
        assert Inner(CONFIG)("still fine", on_event=broken, return_session=True).state == "success"
        with lllm.observe(broken, seen.append):
            assert Inner(CONFIG)("again") == "Test answer to: again"
    assert kinds(seen) == ["AgentCallStarted", "InvokeFinished", "AgentCallFinished"]  # the next listener still runs
    assert "event listener" in caplog.text and "listener bug" in caplog.text
    with pytest.raises(TypeError, match="observe\\(\\) takes callables"):
        with lllm.observe("not a function"):  # type: ignore[arg-type]
            pass


def test_with_no_listener_no_event_is_built(monkeypatch):
    built = []

    def counting(init):
        def wrapped(self, *args, **kw):
            built.append(type(self).__name__)
            init(self, *args, **kw)

        return wrapped

    for cls in ev.Event.__subclasses__():
        monkeypatch.setattr(cls, "__init__", counting(cls.__init__))
    assert Outer({})("quiet") and built == []
    seen = []
    Outer({})("loud", on_event=seen.append)
    assert len(built) == len(seen) > 10  # the counter does count when someone listens


def test_current_session_is_the_call_in_progress_also_inside_tools():
    found = {}

    class Probe(Tactic, register=False):
        name = "probe"

        def call(self, task):
            found["call"] = lllm.current_session()

            def where(city: str) -> str:
                """Report the session."""
                found["tool"] = lllm.current_session()
                return "ok"

            agent = Agent("a", model="test", system_prompt="s", tools=[where])
            agent.run(task)
            return self.session

    assert lllm.current_session() is None
    session = Probe({})("p")
    assert found["call"] is session and found["tool"] is session and session.tactic_name == "probe"
    assert lllm.current_session() is None


def test_events_from_concurrent_calls_stay_with_their_own_listeners():
    async def both():
        a, b = [], []
        await asyncio.gather(Inner(CONFIG).acall("a", on_event=a.append), Inner(CONFIG).acall("b", on_event=b.append))
        return a, b

    a, b = asyncio.run(both())
    assert kinds(a) == kinds(b) == ["AgentCallStarted", "InvokeFinished", "AgentCallFinished"]
    assert len({id(e) for e in a} & {id(e) for e in b}) == 0
