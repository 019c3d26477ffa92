"""Cancelling a tactic call mid-agent-call: the agent's session ends as a failure, the tactic's is saved."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

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


INTERRUPTED_RUN = """
import sys

from lllm import Tactic
from lllm.logging import LogStore
from lllm.logging.backends import LocalFileBackend

url, root, batch = sys.argv[1], sys.argv[2], sys.argv[3] == "batch"
config = {
    "global": {"model_name": "openai/fake-model", "model_args": {"api_base": url, "api_key": "sk-test"}},
    "agent_configs": [{"name": "slow", "system_prompt": "You answer."}],
}


class Ask(Tactic, register=False):
    name = "s7_interrupted"
    agent_group = ["slow"]

    async def call(self, task):
        agent = self.agents["slow"]
        agent.open("d")
        agent.receive(task)
        return (await agent.arespond()).content


tactic = Ask(config, log_store=LogStore(LocalFileBackend(root)))
print("READY", flush=True)
tactic.bcall(["one", "two"]) if batch else tactic("hello")
"""


@pytest.mark.parametrize("how", ["call", "batch"])
def test_ctrl_c_during_a_sync_call_of_an_async_tactic_still_saves_its_session(fake_servers, tmp_path, how):
    """The sync API runs an async tactic on the background loop; on Ctrl-C the caller raised at once and the
    interpreter shut down before the cancelled call could save its session (the save was lost)."""
    url = fake_servers("--phang", "1", "--hang-s", "30")
    FakeServers.stats(url, reset=True)
    root = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_RUN, url, str(root), how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as in a terminal: a child of a shell run in the background (CI under nohup, `cmd &`) inherits SIGINT
        # ignored, and Python then never turns it into KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline().strip() == "READY"
        expected = 2 if how == "batch" else 1
        while FakeServers.stats(url)["requests"] < expected:  # every call is waiting on the server
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert "KeyboardInterrupt" in err and "can't register atexit" not in err
    sessions = LogStore(LocalFileBackend(root)).list_sessions()
    assert sorted(s.state for s in sessions) == ["failure"] * expected


def test_the_sync_api_refused_inside_lllms_loop_raises_and_leaves_no_coroutine_unawaited(recwarn):
    import gc

    from lllm.core.aio import run_sync

    class Echo(Tactic, register=False):
        name = "s7_echo"

        async def call(self, task: str) -> str:
            return task

    async def inside():
        with pytest.raises(RuntimeError, match=r"inside its own event loop.*`await tactic\.acall\(\.\.\.\)`"):
            Echo({})("x")
        return await Echo({}).acall("y")

    assert run_sync(inside()) == "y"
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


EXITING_TACTIC = """
import sys

from lllm import Tactic
from lllm.logging import LogStore
from lllm.logging.backends import LocalFileBackend


class Strict(Tactic, register=False):
    name = "s7_strict"

    async def call(self, task):
        sys.exit(3)


Strict(log_store=LogStore(LocalFileBackend(sys.argv[1])))("bad input")
"""


def test_an_async_tactic_that_calls_sys_exit_exits_the_sync_caller(tmp_path):
    """sys.exit in an async tactic run by the sync API raised SystemExit on the background loop, which stopped
    the loop: the caller waited forever instead of exiting."""
    proc = subprocess.run(
        [sys.executable, "-c", EXITING_TACTIC, str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 3, proc.stderr
    (summary,) = LogStore(LocalFileBackend(tmp_path)).list_sessions()
    assert summary.state == "failure"
