"""SystemExit / KeyboardInterrupt raised by user code on LLLM's background loop reach the caller that owns
the call, and the loop keeps serving every other sync call (it used to stop, hanging them all)."""

from __future__ import annotations

import threading
from typing import Any, Callable, List

import pytest

from lllm import Agent, Tactic
from lllm.core import aio
from lllm.core.stream import BaseStreamHandler

BOUND_S = 30.0


@pytest.fixture(autouse=True)
def _fresh_loop_if_killed():
    """A killed background loop would hang every later test in this process: start a new one then."""
    yield
    thread = aio._thread
    if thread is not None and not thread.is_alive():
        aio._loop = None


def bounded(fn: Callable[[], Any]) -> List[Any]:
    """``[result or exception]`` of ``fn()`` run in a thread; fails the test (not hangs) past ``BOUND_S``."""
    out: List[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            out.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(BOUND_S)
    assert not t.is_alive(), "the sync call never returned: LLLM's background loop stopped"
    return out


class Quit(BaseStreamHandler):
    def __init__(self, exc: BaseException):
        self.exc = exc

    def on_token(self, text: str) -> None:
        raise self.exc


def agent_for(url: str, **kw: Any) -> Agent:
    args = {"api_base": url, "api_key": "sk-test"}
    agent = Agent(name="a", system_prompt="You answer.", model="openai/fake-model", model_args=args, **kw)
    agent.open("main")
    agent.receive("hello")
    return agent


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt()])
def test_an_exit_in_a_stream_handler_reaches_its_caller_and_the_loop_keeps_serving(fake_servers, exc):
    url = fake_servers("--latency-ms", "1")
    (got,) = bounded(lambda: agent_for(url, stream_handler=Quit(exc)).respond())
    assert got is exc
    (answer,) = bounded(lambda: agent_for(url).respond())
    assert not isinstance(answer, BaseException) and answer.content


class Leave(Tactic, register=False):
    name = "leave"
    agent_group = ["a"]

    async def call(self, task: str) -> str:
        if task == "quit":
            raise SystemExit(4)
        return task.upper()


def test_an_exit_in_an_async_tactic_run_by_bcall_reaches_the_caller(fake_servers):
    config = {"global": {"model_name": "test"}, "agent_configs": [{"name": "a", "system_prompt": "x"}]}
    (got,) = bounded(lambda: Leave(config).bcall(["ok", "quit"]))
    assert isinstance(got, SystemExit) and got.code == 4
    (again,) = bounded(lambda: Leave(config).bcall(["x", "y"]))
    assert again == ["X", "Y"]
