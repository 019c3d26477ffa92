"""A tiny MCP server for the tests, written with the SDK's FastMCP: `add`, `echo`, `fail`, `env_value`.

Run as a script it serves over stdio; tests serve it over streamable HTTP in-process (see `app()`)."""

from __future__ import annotations

import os

from mcp.server.fastmcp import FastMCP

server = FastMCP("tiny", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str, times: int = 1) -> str:
    """Repeat a text."""
    return " ".join([text] * times)


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ValueError(f"refused: {reason}")


@server.tool(name="env.value")
def env_value(name: str) -> str:
    """An environment variable of the server process ('<unset>' if missing)."""
    return os.environ.get(name, "<unset>")


def app():
    """The streamable-HTTP ASGI app (served at /mcp)."""
    return server.streamable_http_app()


if __name__ == "__main__":
    server.run("stdio")
