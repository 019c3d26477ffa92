"""Call-loop edge cases: tools that exit, and what a session records when a call ends abnormally."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
