"""MCP client: tools of a real local MCP server (tests/mcp/tiny_mcp_server.py, FastMCP) over stdio and
streamable HTTP become Functions that an Agent calls through the normal tool loop."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="MCP tools need the 'mcp' extra")

from lllm import Agent, Prompt, Roles, Tactic  # noqa: E402
from lllm.core.message import FunctionCall  # noqa: E402
from lllm.errors import ConfigError  # noqa: E402
from lllm.mcp import MCPError, MCPScope, MCPServer, mcp_servers_for  # noqa: E402
from lllm.packages.config import parse_agent_configs  # noqa: E402
from lllm.packages.runtime import Runtime  # noqa: E402
from lllm.testing import MockInvoker, tool_calls  # noqa: E402

SERVER = str(Path(__file__).with_name("tiny_mcp_server.py"))


def stdio_server(**kw) -> MCPServer:
    return MCPServer("tiny", stdio=[sys.executable, SERVER], timeout=20, **kw)


@pytest.fixture(scope="module")
def http_url():
    """The tiny server over streamable HTTP: uvicorn in a thread, on a free port of 127.0.0.1."""
    uvicorn = pytest.importorskip("uvicorn")
    sys.path.insert(0, str(Path(SERVER).parent))
    try:
        import tiny_mcp_server
    finally:
        sys.path.pop(0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(tiny_mcp_server.app(), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.skip("the streamable-HTTP test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(10)
    sock.close()


def agent_with(script, tools):
    inv = MockInvoker(script)
    agent = Agent(name="bot", system_prompt="You use tools.", model="mock-model", llm_invoker=inv, tools=tools)
    agent.open("main")
    agent.receive("Go")
    return agent, inv


def tool_results(agent):
    return [m.content for m in agent.current_dialog.messages if m.role == Roles.TOOL]


SCRIPT = [
    tool_calls(
        ("add", {"a": 2, "b": 40}, "c1"),
        ("fail", {"reason": "no"}, "c2"),
        ("echo", {"text": "hi", "times": None}, "c3"),
    ),
    "done",
]


def check_calls(agent, inv):
    add, fail, echo = tool_results(agent)
    assert "---\n42\n---" in add
    assert fail.startswith("Error: ") and "refused: no" in fail
    assert "---\nhi\n---" in echo  # null means "use the default" (times=1)
    assert inv.requests[0].tools == ["add", "echo", "fail", "env_value"]


def test_stdio_tools_are_functions_an_agent_calls():
    with stdio_server().session() as tools:
        by_name = {f.name: f for f in tools}
        assert by_name["add"].to_tool()["function"]["parameters"]["properties"] == {
            "a": {"type": "integer"},
            "b": {"type": "integer"},
        }
        assert by_name["add"].description == "Add two integers."
        assert "(default: 1)" in by_name["echo"].properties["times"]["description"]
        agent, inv = agent_with(SCRIPT, tools)
        assert agent.respond().content == "done"
        check_calls(agent, inv)
        # a tool name providers reject ('env.value') is renamed, and calls go to the server's own name
        assert (
            by_name["env_value"](FunctionCall(id="x", name="env_value", arguments={"name": "PATH"})).error_message
            is None
        )


async def test_streamable_http_tools_from_another_event_loop(http_url):
    server = MCPServer("tiny-http", url=http_url, timeout=20)
    async with server.session() as tools:
        agent, inv = agent_with(SCRIPT, tools)
        reply = await agent.arespond()  # on this test's loop; the session lives on LLLM's loop
        assert reply.content == "done"
        check_calls(agent, inv)
        results = await asyncio.gather(
            *(
                t.acall(FunctionCall(id=str(i), name="add", arguments={"a": i, "b": i}))
                for i, t in enumerate([tools[0]] * 5)
            )
        )
        assert [r.result for r in results] == ["0", "2", "4", "6", "8"]


def test_the_connection_lasts_one_tactic_call():
    files = stdio_server()
    opened = []

    class Researcher(Tactic, register=False):
        name = "researcher"
        agent_group = ["bot"]

        async def call(self, task: str) -> str:
            async with files.session() as tools:
                opened.append(tools)
                agent = self.agents["bot"]
                agent.tools.extend(tools)
                agent.open("main")
                agent.receive(task)
                return (await agent.arespond()).content

    inv = MockInvoker([tool_calls(("add", {"a": 1, "b": 2}, "t1")), "three"])
    tactic = Researcher(
        {"agent_configs": [{"name": "bot", "model_name": "mock", "system_prompt": "Hi"}]},
        invoker=inv,
        runtime=Runtime("mcp-tests"),
    )
    assert tactic("add them") == "three"
    assert "---\n3\n---" in inv.requests[1].messages[-1].content
    add = opened[0][0]
    assert add(FunctionCall(id="late", name="add", arguments={"a": 1, "b": 1})).result_str.startswith(
        "Error: MCP server 'tiny': the connection is closed"
    )


def test_config_servers_and_mcp_tool_entries():
    """What a tactic does for `mcp_servers` + `tools: ["mcp:<name>"]`: list once, connect per call."""
    config = {
        "mcp_servers": {
            "tiny": {"stdio": [sys.executable, SERVER], "allowed_tools": ["add"], "prefix": "t_", "timeout": 20},
            "unused": {"url": "http://127.0.0.1:9/mcp"},
        },
        "agent_configs": [{"name": "bot", "model_name": "mock", "system_prompt": "Hi", "tools": ["mcp:tiny"]}],
    }
    specs = parse_agent_configs(config, ["bot"], "t")
    servers = mcp_servers_for(config, {n: s.tools for n, s in specs.items()})  # Tactic.__init__
    assert list(servers) == ["tiny"] and [t.name for t in servers["tiny"].list_tools()] == ["add"]
    for turn in range(2):  # two tactic calls, each with its own connection
        inv = MockInvoker([tool_calls(("t_add", {"a": turn, "b": 10}, "a1")), "ok"])
        scope = MCPScope(servers)  # Tactic._begin
        agent = specs["bot"].build(Runtime("mcp-config"), inv)
        agent.tools = scope.expand(agent.tools)
        assert [f.name for f in agent.tools] == ["t_add"]
        agent.open("main")
        agent.receive("go")
        assert agent.respond().content == "ok"
        assert f"---\n{10 + turn}\n---" in tool_results(agent)[0]
        scope.close()  # Tactic._finish
        assert all(c.closed for c in scope._connections.values())
    with pytest.raises(ConfigError, match=r"names no MCP server. Declared in mcp_servers: \['tiny', 'unused'\]"):
        mcp_servers_for({**config, "agent_configs": []}, {"bot": ["mcp:nope"]})


def test_the_server_gets_no_provider_keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    with stdio_server(env={"VISIBLE": "yes"}).session() as tools:
        env_value = {f.name: f for f in tools}["env_value"]
        for var, expected in (("OPENAI_API_KEY", "<unset>"), ("VISIBLE", "yes")):
            assert env_value(FunctionCall(id=var, name="env_value", arguments={"name": var})).result == expected


def test_unreachable_servers_fail_clearly():
    crash = MCPServer(
        "crash", stdio=[sys.executable, "-c", "import sys; sys.stderr.write('no config\\n'); sys.exit(2)"], timeout=10
    )
    with pytest.raises(MCPError, match=r"(?s)MCP server 'crash' .* could not be reached.*no config"):
        with crash.session():
            pass
    missing = MCPServer("missing", stdio=["/nonexistent/lllm-mcp-server"], timeout=10)
    with pytest.raises(MCPError, match="could not be reached"):
        missing.session().open()
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    closed_url = f"http://127.0.0.1:{port.getsockname()[1]}/mcp"
    port.close()
    with pytest.raises(MCPError, match="MCP server 'gone'"):
        MCPServer("gone", url=closed_url, timeout=5).session().open()


def test_a_failed_connection_is_a_tool_error_not_a_crash():
    server = stdio_server()
    server.list_tools()
    server.stdio = [sys.executable, "-c", "raise SystemExit(1)"]  # the server breaks after listing
    scope = MCPScope({"tiny": server})
    add = scope.expand(["mcp:tiny"])[0]
    out = add(FunctionCall(id="1", name="add", arguments={"a": 1, "b": 2}))
    assert out.result_str.startswith("Error: MCP server 'tiny'") and "could not be reached" in out.result_str
    scope.close()


def test_allowed_tools_and_settings_are_validated():
    with pytest.raises(ConfigError, match=r"allowed_tools names unknown tools \['sub'\]; the server's tools are"):
        stdio_server(allowed_tools=["add", "sub"]).list_tools()
    for kw in (
        {},
        {"stdio": ["x"], "url": "http://a"},
        {"stdio": "python server.py"},
        {"url": "ftp://x"},
        {"stdio": ["x"], "timeout": 0},
    ):
        with pytest.raises(ConfigError):
            MCPServer("s", **kw)
    with pytest.raises(ConfigError, match="unknown keys"):
        MCPServer.from_config("s", {"command": "python"})
    server = MCPServer.from_config("s", {"url": "http://127.0.0.1:1/mcp", "headers": {"Authorization": "Bearer x"}})
    assert server.headers == {"Authorization": "Bearer x"} and "url=" in repr(server)


def test_prompts_can_list_mcp_tools():
    with stdio_server(allowed_tools=["echo"]).session() as tools:
        task = Prompt(path="t/mcp", prompt="Echo it", function_list=tools)
        inv = MockInvoker([tool_calls(("echo", {"text": "yo", "times": 2}, "e1")), "fine"])
        agent = Agent(name="bot", system_prompt="Hi", model="mock", llm_invoker=inv)
        agent.open("main")
        agent.receive_prompt(task)
        assert agent.respond().content == "fine"
        assert "---\nyo yo\n---" in tool_results(agent)[0]


async def test_a_cancelled_caller_does_not_break_the_connection_for_the_others():
    slow = MCPServer(
        "slow",
        stdio=[
            sys.executable,
            "-c",
            f"import runpy, time; time.sleep(1); runpy.run_path({SERVER!r}, run_name='__main__')",
        ],
        timeout=20,
    )
    conn = slow.session()
    try:
        impatient = asyncio.ensure_future(conn.aopen())
        patient = asyncio.ensure_future(conn.aopen())
        await asyncio.sleep(0.2)  # both wait while the server starts
        impatient.cancel()
        assert await patient is conn
        tools = {f.name: f for f in slow.functions(conn)}
        result = await tools["add"].acall(FunctionCall(id="1", name="add", arguments={"a": 1, "b": 2}))
        assert result.result == "3"
    finally:
        await conn.aclose()
