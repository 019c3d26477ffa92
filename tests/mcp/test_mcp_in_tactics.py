"""MCP servers declared in a tactic config (``mcp_servers`` + ``tools: ["mcp:<name>"]``): tools listed
once per tactic instance, one connection per call, closed when the call ends.

These run once Tactic wires lllm.mcp in (the tactic integration); until then they skip."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="MCP tools need the 'mcp' extra")

from lllm import Tactic  # noqa: E402
from lllm.errors import ConfigError  # noqa: E402
from lllm.packages.runtime import Runtime  # noqa: E402
from lllm.testing import MockInvoker, tool_calls  # noqa: E402

SERVER = str(Path(__file__).with_name("tiny_mcp_server.py"))
CONFIG = {
    "mcp_servers": {"tiny": {"stdio": [sys.executable, SERVER], "timeout": 20}},
    "agent_configs": [{"name": "bot", "model_name": "mock", "system_prompt": "Hi", "tools": ["mcp:tiny"]}],
}


class Adder(Tactic, register=False):
    name = "adder"
    agent_group = ["bot"]

    def call(self, task: str) -> str:
        agent = self.agents["bot"]
        agent.open("main")
        agent.receive(task)
        return agent.respond().content


class AsyncAdder(Adder, register=False):
    async def call(self, task: str) -> str:
        agent = self.agents["bot"]
        agent.open("main")
        agent.receive(task)
        return (await agent.arespond()).content


def build(cls, script):
    tactic = cls(CONFIG, invoker=MockInvoker(script), runtime=Runtime("mcp-tactic"))
    if not hasattr(tactic, "_mcp_servers"):
        pytest.skip("Tactic does not wire MCP servers yet (tactic integration pending)")
    return tactic


@pytest.mark.parametrize("cls", [Adder, AsyncAdder])
def test_config_mcp_tools_are_called_and_disconnected_per_call(cls):
    script = [tool_calls(("add", {"a": 20, "b": 22}, "c1")), "42", tool_calls(("fail", {"reason": "x"}, "c2")), "ok"]
    tactic = build(cls, script)
    assert tactic("add") == "42"
    assert tactic("fail") == "ok"
    requests = tactic.llm_invoker.requests
    assert requests[0].tools == ["add", "echo", "fail", "env_value"]
    assert "---\n42\n---" in requests[1].messages[-1].content
    assert requests[3].messages[-1].content.startswith("Error: ") and "refused: x" in requests[3].messages[-1].content


def test_an_undeclared_server_fails_when_the_tactic_is_built():
    config = {**CONFIG, "mcp_servers": {}}
    tactic_cls = Adder
    try:
        tactic_cls(config, invoker=MockInvoker([]), runtime=Runtime("mcp-tactic-2"))
    except ConfigError as e:
        assert "names no MCP server" in str(e)
    else:
        pytest.skip("Tactic does not wire MCP servers yet (tactic integration pending)")
