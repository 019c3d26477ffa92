"""Call-loop edge cases: tools that exit, and what a session records when a call ends abnormally."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap

import httpx
import pytest

from lllm import Agent, BaseInvoker, Prompt, tool
from lllm.errors import AgentCallError
from lllm.testing import MockInvoker, tool_calls

EXITING_TOOL = textwrap.dedent(
    """
    import argparse

    from lllm import Agent, Prompt, tool
    from lllm.testing import MockInvoker, tool_calls


    @tool
    def cli(argv: str) -> str:
        \"\"\"Run a small command line (argparse exits on bad arguments).\"\"\"
        parser = argparse.ArgumentParser(prog="cli")
        parser.add_argument("--n", type=int, required=True)
        return str(parser.parse_args(argv.split()).n)


    task = Prompt(path="t/cli", prompt="Go", function_list=[cli])
    script = [tool_calls(("cli", {"argv": "--n x"}, "c1")), "done", "hello again"]
    agent = Agent(name="bot", system_prompt="You are a bot.", model="mock-model", llm_invoker=MockInvoker(script))
    agent.open("main")
    agent.receive_prompt(task)
    session = agent.respond(return_session=True)
    print("RESULT", session.state, session.interrupts[0][0].result_str)
    agent.open("again")
    agent.receive("hi")
    print("SECOND", agent.respond().content)
    """
)


def test_a_tool_that_calls_sys_exit_is_an_error_result_and_the_sync_api_keeps_working():
    """argparse (or sys.exit) in a tool raises SystemExit; reaching the background loop it stopped the loop,
    and respond() then waited forever, this call and every later one."""
    proc = subprocess.run([sys.executable, "-c", EXITING_TOOL], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("RESULT success Error: ") and "SystemExit" in lines[0] and "2" in lines[0]
    assert lines[1] == "SECOND hello again"


def test_identical_calls_in_one_message_run_the_tool_once():
    """§3.2: tool calls are answered in order, and a repeat of a call already executed is answered from it
    without running; two identical calls in one model turn ran the tool twice (they ran concurrently)."""
    sent = []

    @tool
    def send_email(to: str) -> str:
        """Send an email (a side effect)."""
        sent.append(to)
        return f"sent #{len(sent)}"

    script = [tool_calls(("send_email", {"to": "a@x"}, "c1"), ("send_email", {"to": "a@x"}, "c2")), "done"]
    agent = Agent(name="bot", system_prompt="You are a bot.", model="mock-model", llm_invoker=MockInvoker(script))
    agent.open("main")
    agent.receive_prompt(Prompt(path="t/mail", prompt="Mail a", function_list=[send_email]))
    session = agent.respond(return_session=True)
    assert sent == ["a@x"]
    first, second = session.interrupts[0]
    assert first.id == "c1" and "sent #1" in first.result_str
    assert second.id == "c2" and "already made earlier" in second.result_str and "sent #1" in second.result_str
    tool_ids = [m.metadata.get("tool_call_id") for m in agent.current_dialog.messages if m.role.value == "tool"]
    assert tool_ids == ["c1", "c2"]  # every id answered exactly once, in order


def test_an_http_library_error_from_a_custom_invoker_is_an_agent_call_error():
    """httpx and requests errors carry their own Request object as ``.request``; recording the failed attempt
    raised a pydantic ValidationError about InvokeTrace instead of the documented AgentCallError."""

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class HttpxInvoker(BaseInvoker):
        def call(self, dialog, model, *args, **kw):
            httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"model": model}, timeout=5)

    agent = Agent("bot", "You answer.", model="local", llm_invoker=HttpxInvoker())
    agent.open("main")
    agent.receive("hi")
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    assert ei.value.reason == "llm_error" and isinstance(ei.value.__cause__, httpx.ConnectError)
    trace = ei.value.session.invoke_traces[0][0]
    assert trace.request == {} and trace.errors[0]["type"] == "ConnectError"


def unanswered(messages) -> list:
    """Tool-call ids of assistant turns not answered by the tool results right after them (providers reject
    such a history with HTTP 400 on every later request)."""
    out, messages = [], list(messages)
    for k, m in enumerate(messages):
        if m.function_calls:
            answered = set()
            for r in messages[k + 1 :]:
                if r.role.value != "tool":
                    break
                answered.add(r.metadata.get("tool_call_id"))
            out += [c.id for c in m.function_calls if c.id not in answered]
    return out


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_tool_calls_after_the_final_prompt_leave_no_unanswered_call_in_the_dialog():
    """The max_steps failure appended the model's tool-call turn, then failed: the dialog kept calls with no
    results, and continuing the conversation sent a history every provider rejects."""
    task = Prompt(path="t/s7_budget", prompt="Go", function_list=[add])
    script = [tool_calls(("add", {"a": 1, "b": i}, f"x{i}")) for i in range(2)] + ["fine, 2"]
    inv = MockInvoker(script)
    agent = Agent(
        name="bot", system_prompt="You are a bot.", model="mock-model", llm_invoker=inv, max_interrupt_steps=1
    )
    agent.open("main")
    agent.receive_prompt(task)
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    assert ei.value.reason == "max_steps" and unanswered(agent.current_dialog.messages) == []
    agent.receive("Just answer.")
    assert agent.respond().content == "fine, 2"
    assert unanswered(inv.requests[-1].messages) == []


def test_a_call_ended_by_its_deadline_during_a_tool_leaves_no_unanswered_call():
    """The deadline (or a cancellation) while tools ran left the tool-call turn in the dialog without results."""
    started = []

    @tool
    async def wait_forever(x: int) -> int:
        """Never returns in time."""
        started.append(x)
        await asyncio.sleep(60)
        return x

    task = Prompt(path="t/s7_deadline", prompt="Go", function_list=[wait_forever])
    inv = MockInvoker([tool_calls(("wait_forever", {"x": 1}, "w1")), "late answer"])
    agent = Agent(name="bot", system_prompt="You are a bot.", model="mock-model", llm_invoker=inv, call_deadline_s=0.5)
    agent.open("main")
    agent.receive_prompt(task)
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    assert ei.value.reason == "deadline" and started == [1]
    assert unanswered(agent.current_dialog.messages) == []
    agent.receive("Answer without tools.")
    assert agent.respond().content == "late answer"
    assert unanswered(inv.requests[-1].messages) == []


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Task.cancelling() (Python 3.11) tells a tool's own cancellation apart"
)
def test_a_tool_whose_own_work_is_cancelled_gets_an_error_result_and_the_call_goes_on():
    """Docs: a tool that raises does not stop the call. An async tool awaiting work cancelled elsewhere raised
    CancelledError, which ended the whole agent call (and its tactic) as if the caller had cancelled it."""

    @tool
    async def fetch(url: str) -> str:
        """Fetch a page through a shared connection that was closed meanwhile."""
        shared = asyncio.get_running_loop().create_future()
        shared.cancel()
        return await shared

    task = Prompt(path="t/s7_fetch", prompt="Go", function_list=[fetch])
    inv = MockInvoker([tool_calls(("fetch", {"url": "http://127.0.0.1/"}, "f1")), "could not fetch"])
    agent = Agent(name="bot", system_prompt="You are a bot.", model="mock-model", llm_invoker=inv)
    agent.open("main")
    agent.receive_prompt(task)
    session = agent.respond(return_session=True)
    assert session.state == "success" and session.delivery.content == "could not fetch"
    (call,) = session.interrupts[0]
    assert call.error_message and call.result_str.startswith("Error: ") and "cancelled" in call.result_str


def test_the_already_responding_error_gives_advice_that_works():
    """It advised forking a dialog for parallel calls, but a call on a fork of the same agent is refused the
    same way; a clone runs alongside."""
    gate = asyncio.Event()

    class GatedInvoker(MockInvoker):
        async def acall(self, *a, **kw):
            await gate.wait()
            return self.call(*a, **kw)

    agent = Agent(name="bot", system_prompt="s", model="m", llm_invoker=GatedInvoker(["first", "second"]))
    agent.open("main")
    agent.receive("hi")

    async def main():
        first = asyncio.ensure_future(agent.arespond())
        await asyncio.sleep(0)  # the first call is waiting on the model
        fork = agent.fork("main", "branch", switch=False)
        with pytest.raises(RuntimeError, match="already responding") as ei:
            await agent.acall(fork)
        assert "fork" not in str(ei.value) and "clone()" in str(ei.value)
        second = asyncio.ensure_future(agent.clone().acall(fork))  # what the message advises
        await asyncio.sleep(0)
        gate.set()
        return (await first).content, (await second).content

    assert sorted(asyncio.run(main())) == ["first", "second"]


def test_zero_interrupt_steps_allows_many_tool_rounds_as_its_warning_says():
    """max_interrupt_steps=0 warns "a budget of 100 steps", but the final-answer prompt (no more tools) came
    after the first tool round, and a second round failed the call with max_steps."""
    script = [tool_calls(("add", {"a": 1, "b": i}, f"r{i}")) for i in range(3)] + ["three rounds done"]
    inv = MockInvoker(script)
    agent = Agent(
        name="bot", system_prompt="You are a bot.", model="mock-model", llm_invoker=inv, max_interrupt_steps=0
    )
    agent.open("main")
    agent.receive_prompt(Prompt(path="t/s7_zero", prompt="Go", function_list=[add]))
    with pytest.warns(UserWarning, match="budget of 100 steps"):
        session = agent.respond(return_session=True)
    assert session.delivery.content == "three rounds done" and session.interrupts_count == 3
    assert all(r.tools == ["add"] for r in inv.requests)  # tools offered on every step


def test_backoff_after_a_thousand_retries_stays_capped():
    """rate_limit_retries may be any integer; the 1024th retry's backoff raised OverflowError (2.0**1024)."""
    from lllm.core.call_loop import MAX_BACKOFF_S, backoff_delay

    assert MAX_BACKOFF_S / 2 <= backoff_delay(1100) <= MAX_BACKOFF_S
    assert backoff_delay(5000, retry_after=45.0) == 45.0
