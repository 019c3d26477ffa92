"""MCP client: the tools of MCP servers (stdio or streamable HTTP) as LLLM ``Function``s.

(``lllm.core.tools.MCP`` is something else: a server the *provider* connects to, Responses API.)

A connection lives for one tactic call. In code, open it inside ``call``::

    class Researcher(Tactic):
        name, agent_group = "researcher", ["assistant"]
        files = MCPServer("files", stdio=["python", "files_server.py"])

        async def call(self, task):
            async with self.files.session() as tools:      # sync tactics: `with self.files.session() as tools:`
                agent = self.agents["assistant"]
                agent.tools.extend(tools)                 # or prompt.extend(path=..., function_list=[...])
                agent.open("main")
                agent.receive(task)
                return (await agent.arespond()).content

In a config, declare servers under the top-level ``mcp_servers`` key and list ``"mcp:<name>"`` in an
agent's ``tools``; the tactic lists each server's tools once (when it is built) and, per call, an
``MCPScope`` connects at the first tool call and disconnects when the call ends.

Every connection is owned by one task on LLLM's background event loop (the SDK's transports must be
entered and left in the same task), so its tools can be called from any thread or event loop. A tool
that fails on the server comes back to the model as ``Error: …``. A stdio server gets the SDK's minimal
environment (``HOME``, ``PATH``, …) plus ``env``: provider keys are not passed on unless listed there.

Needs the ``mcp`` extra (the official SDK); imported lazily."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import json
import logging
import re
import tempfile
import threading
from datetime import timedelta
from typing import Any, Dict, List, Mapping, Optional, Sequence

from lllm.core.aio import background_loop, in_background_loop, run_sync, within
from lllm.core.tools import Function
from lllm.errors import ConfigError, LLLMError

logger = logging.getLogger("lllm.mcp")

PREFIX = "mcp:"  # an agent config's tools entry "mcp:<server name>"
SERVER_KEYS = ("stdio", "url", "env", "cwd", "headers", "allowed_tools", "prefix", "timeout")


class MCPError(LLLMError, RuntimeError):
    """An MCP server that could not be reached, or a connection used after it was closed."""


class MCPToolError(LLLMError, RuntimeError):
    """A tool call the server answered with ``isError`` (the model reads ``Error: <its text>``)."""


class MCPServer:
    """How to reach one MCP server: ``stdio=[command, *args]`` (a subprocess) or ``url=`` (streamable HTTP).

    ``allowed_tools`` keeps only the named tools (an unknown name raises ``ConfigError`` when tools are
    listed); ``prefix`` is prepended to tool names (to tell two servers' ``search`` apart); ``timeout``
    bounds connecting and each request, in seconds. Holds no connection itself: see ``session()``."""

    def __init__(
        self,
        name: str,
        *,
        stdio: Optional[Sequence[str]] = None,
        url: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        allowed_tools: Optional[Sequence[str]] = None,
        prefix: str = "",
        timeout: float = 60.0,
    ):
        if not isinstance(name, str) or not name:
            raise ConfigError(f"MCPServer: name must be a non-empty string, got {name!r}")
        if (stdio is None) == (url is None):
            raise ConfigError(f"MCP server '{name}': give exactly one of stdio=[command, *args] or url='http…'")
        if stdio is not None and (isinstance(stdio, str) or not stdio or not all(isinstance(a, str) for a in stdio)):
            raise ConfigError(
                f"MCP server '{name}': stdio must be a non-empty list like ['python', 'server.py'], got {stdio!r}"
            )
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise ConfigError(f"MCP server '{name}': url must start with http:// or https://, got {url!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(f"MCP server '{name}': timeout must be a number of seconds > 0, got {timeout!r}")
        self.name = name
        self.stdio = list(stdio) if stdio is not None else None
        self.url = url
        self.env = dict(env or {})
        self.cwd = cwd
        self.headers = dict(headers or {})
        self.allowed_tools = list(allowed_tools) if allowed_tools is not None else None
        self.prefix = prefix
        self.timeout = float(timeout)
        self._listing: Optional[List[Any]] = None  # the server's tool descriptors, once listed

    def __repr__(self) -> str:
        where = f"stdio={self.stdio!r}" if self.stdio is not None else f"url={self.url!r}"
        return f"MCPServer({self.name!r}, {where})"

    @classmethod
    def from_config(cls, name: str, entry: Any) -> "MCPServer":
        """A server from an ``mcp_servers`` entry (a mapping of this constructor's keyword arguments)."""
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"mcp_servers['{name}'] must be a mapping like {{stdio: [python, server.py]}} "
                f"or {{url: http://…/mcp}}, got {type(entry).__name__}"
            )
        unknown = sorted(set(entry) - set(SERVER_KEYS))
        if unknown:
            raise ConfigError(f"mcp_servers['{name}']: unknown keys {unknown}. Known keys: {list(SERVER_KEYS)}")
        return cls(name, **entry)

    def session(self) -> "MCPConnection":
        """A new connection; ``async with`` / ``with`` it to get its tools as ``Function``s."""
        return MCPConnection(self)

    def list_tools(self) -> List[Any]:
        """The server's tool descriptors (after ``allowed_tools``), fetched once on a short connection."""
        if self._listing is None:
            run_sync(self._fetch_listing())
        assert self._listing is not None
        return list(self._listing)

    async def _fetch_listing(self) -> None:
        async with self.session():
            pass  # entering lists the tools

    def functions(self, connection: "MCPConnection") -> List[Function]:
        """The listed tools as ``Function``s whose calls go through ``connection``."""
        return [self._function(t, connection) for t in self.list_tools()]

    def _keep(self, tools: List[Any]) -> List[Any]:
        if self.allowed_tools is None:
            return tools
        names = [t.name for t in tools]
        unknown = [n for n in self.allowed_tools if n not in names]
        if unknown:
            raise ConfigError(
                f"MCP server '{self.name}': allowed_tools names unknown tools {unknown}; the server's tools are {names}"
            )
        return [t for t in tools if t.name in self.allowed_tools]

    def _function(self, tool: Any, connection: "MCPConnection") -> Function:
        schema = tool.inputSchema or {}
        remote = tool.name

        async def call_mcp_tool(**arguments: Any) -> str:
            return await connection.call_tool(remote, arguments)

        properties = {}
        for key, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict) and "default" in prop:  # strict schemas drop defaults: say it in words
                text = f"{prop.get('description', '')} (default: {prop['default']!r})".strip()
                prop = {**prop, "description": text}
            properties[key] = prop
        name = re.sub(r"[^A-Za-z0-9_-]", "_", f"{self.prefix}{remote}")[:64]
        return Function(
            name,
            tool.description or remote,
            properties,
            required=list(schema.get("required") or []),
            additional_properties=schema.get("additionalProperties") not in (None, False),
            function=call_mcp_tool,
            defs=schema.get("$defs") or schema.get("definitions"),
        )

    @contextlib.asynccontextmanager
    async def _transport(self, errlog: Any) -> Any:
        """``(read, write)`` streams to the server, for as long as the context is open."""
        if self.stdio is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client  # lazy: the mcp extra

            params = StdioServerParameters(
                command=self.stdio[0], args=self.stdio[1:], env=self.env or None, cwd=self.cwd
            )
            async with stdio_client(params, errlog=errlog) as (read, write):
                yield read, write
            return
        assert self.url is not None  # the constructor takes exactly one of stdio and url
        from mcp.client import streamable_http  # lazy: the mcp extra

        if hasattr(streamable_http, "streamable_http_client"):
            import httpx  # a dependency of the SDK

            timeout = httpx.Timeout(self.timeout, read=max(self.timeout, 300.0))  # reads wait for server events
            async with httpx.AsyncClient(headers=self.headers or None, timeout=timeout) as client:
                async with streamable_http.streamable_http_client(self.url, http_client=client) as (read, write, _):
                    yield read, write
        else:  # older SDKs
            async with streamable_http.streamablehttp_client(
                self.url, headers=self.headers or None, timeout=self.timeout
            ) as (read, write, _):
                yield read, write


class MCPConnection:
    """One open session with an MCP server, owned by a task on LLLM's background loop.

    Opens on ``open()``/``aopen()``, on entering it as a context manager, or at the first ``call_tool``;
    ``close()``/``aclose()`` end it (and a stdio server's process). It does not reopen once closed."""

    def __init__(self, server: MCPServer):
        self.server = server
        self.closed = False
        self._lock = threading.Lock()
        self._ready: Optional[cf.Future[Any]] = None  # -> the ClientSession
        self._owner: Optional[cf.Future[Any]] = None  # the task holding the transport and the session
        self._stop: Optional[asyncio.Event] = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("open" if self._ready is not None else "not opened")
        return f"MCPConnection({self.server.name!r}, {state})"

    # -- lifecycle -------------------------------------------------------------------------------

    def _start(self) -> cf.Future[Any]:
        with self._lock:
            if self.closed:
                raise MCPError(
                    f"MCP server '{self.server.name}': the connection is closed (it lasts one tactic "
                    f"call or one `with server.session()` block)"
                )
            if self._ready is None:
                self._ready = cf.Future()
                self._stop = asyncio.Event()
                self._owner = asyncio.run_coroutine_threadsafe(self._hold(), background_loop())
            return self._ready

    async def _hold(self) -> None:
        """Open the transport and the session, list the tools, then wait for ``close``; all in one task."""
        assert self._ready is not None and self._stop is not None
        try:
            from mcp import ClientSession  # lazy: the mcp extra
        except ImportError as e:
            self._ready.set_exception(
                MCPError(
                    f"MCP server '{self.server.name}': MCP tools need the 'mcp' extra (pip install 'lllm[mcp]'): {e}"
                )
            )
            return
        server = self.server
        errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") if server.stdio else None
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(server._transport(errlog))
                session = await stack.enter_async_context(
                    ClientSession(read, write, read_timeout_seconds=timedelta(seconds=server.timeout))
                )
                await within(session.initialize(), server.timeout)
                server._listing = server._keep(await _all_tools(session))
                self._ready.set_result(session)
                await self._stop.wait()
        except BaseException as e:  # noqa: BLE001 - reported to whoever waits for the connection
            if not self._ready.done():
                leaf = _leaf(e)
                self._ready.set_exception(leaf if isinstance(leaf, ConfigError) else self._failure(e, errlog))
            elif not isinstance(e, asyncio.CancelledError):
                logger.warning("MCP server '%s': the connection ended with %s", server.name, _describe(e))
            if isinstance(e, asyncio.CancelledError):
                raise
        finally:
            if errlog is not None:
                errlog.close()

    def _failure(self, e: BaseException, errlog: Any) -> MCPError:
        where = " ".join(self.server.stdio) if self.server.stdio else self.server.url
        message = f"MCP server '{self.server.name}' ({where}) could not be reached: {_describe(e)}"
        if errlog is not None:
            errlog.seek(0)
            tail = errlog.read()[-2000:].strip()
            if tail:
                message += f"\nIts stderr ended with:\n{tail}"
        return MCPError(message)

    async def aopen(self) -> "MCPConnection":
        """Connect (if not yet) and wait until the session is ready; raises ``MCPError``."""
        ready = self._start()
        try:  # shielded: a cancelled caller must not cancel the connection other callers wait for
            await within(asyncio.shield(asyncio.wrap_future(ready)), self.server.timeout + 5)
        except asyncio.TimeoutError:
            await self.aclose()
            raise MCPError(f"MCP server '{self.server.name}': no session within {self.server.timeout:g}s") from None
        return self

    def open(self) -> "MCPConnection":
        return run_sync(self.aopen())

    def close(self) -> None:
        """End the session; waits for it to end unless called on LLLM's own loop (then it ends shortly)."""
        owner = self._signal_close()
        if owner is not None and not in_background_loop():
            with contextlib.suppress(Exception, cf.CancelledError):
                owner.result(timeout=self.server.timeout)

    async def aclose(self) -> None:
        owner = self._signal_close()
        if owner is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await within(asyncio.shield(asyncio.wrap_future(owner)), self.server.timeout)

    def _signal_close(self) -> Optional[cf.Future[Any]]:
        with self._lock:
            if self.closed:
                return None
            self.closed = True
            if self._owner is None:
                return None
        background_loop().call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
        return self._owner

    async def __aenter__(self) -> List[Function]:
        await self.aopen()
        return self.server.functions(self)

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __enter__(self) -> List[Function]:
        self.open()
        return self.server.functions(self)

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------------------------

    async def tools(self) -> List[Function]:
        """The server's tools as ``Function``s calling through this connection (opens it if needed)."""
        await self.aopen()
        return self.server.functions(self)

    async def call_tool(self, name: str, arguments: Dict[str, Any]) -> str:
        """Call tool ``name`` (the server's own name); its text, or ``MCPToolError`` if it failed."""
        await self.aopen()
        assert self._ready is not None
        session = self._ready.result()
        result = await _on_background_loop(session.call_tool(name, arguments))
        return result_text(result)


def result_text(result: Any) -> str:
    """The text of a ``CallToolResult``: text blocks as they are, other blocks named, structured content as
    JSON when there is no text. Raises ``MCPToolError`` when the server flagged the call as failed."""
    parts = []
    for block in result.content or ():
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {block.mimeType}]")
        elif kind == "resource":
            res = block.resource
            parts.append(res.text if getattr(res, "text", None) is not None else f"[resource {res.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
    if not parts and result.structuredContent is not None:
        parts.append(json.dumps(result.structuredContent, ensure_ascii=False))
    text = "\n".join(parts)
    if result.isError:
        raise MCPToolError(text or "the tool reported an error")
    return text


async def _all_tools(session: Any) -> List[Any]:
    tools, cursor = [], None
    while True:
        page = await session.list_tools(cursor) if cursor else await session.list_tools()
        tools.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            return tools


async def _on_background_loop(coro: Any) -> Any:
    """Await ``coro`` on LLLM's background loop (where the session lives), from whatever loop we are on."""
    if in_background_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, background_loop()))


def _leaf(e: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups (the SDK's task groups wrap errors)."""
    inner = getattr(e, "exceptions", None)
    while isinstance(inner, tuple) and inner:  # an ExceptionGroup
        e = inner[0]
        inner = getattr(e, "exceptions", None)
    return e


def _describe(e: BaseException) -> str:
    e = _leaf(e)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


# ---------------------------------------------------------------------------------------------
# Config: ``mcp_servers`` + ``tools: ["mcp:<name>"]``
# ---------------------------------------------------------------------------------------------


def mcp_servers_for(config: Mapping[str, Any], tools_by_agent: Mapping[str, Sequence[Any]]) -> Dict[str, MCPServer]:
    """The servers of ``config['mcp_servers']`` that agents name in their ``tools`` (``"mcp:<name>"``),
    with their tools listed (once: the tactic is being built). ``ConfigError`` for an unknown name."""
    declared = config.get("mcp_servers") or {}
    if not isinstance(declared, Mapping):
        raise ConfigError(f"mcp_servers must map server names to settings, got {type(declared).__name__}")
    used: Dict[str, MCPServer] = {}
    for agent, tools in tools_by_agent.items():
        for entry in tools:
            if not (isinstance(entry, str) and entry.startswith(PREFIX)):
                continue
            name = entry[len(PREFIX) :]
            if name not in declared:
                raise ConfigError(
                    f"Agent '{agent}': tools entry '{entry}' names no MCP server. "
                    f"Declared in mcp_servers: {sorted(declared)}"
                )
            if name not in used:
                used[name] = MCPServer.from_config(name, declared[name])
    for server in used.values():
        server.list_tools()
    return used


class MCPScope:
    """The MCP connections of one tactic call: each opens at its first tool call; ``close()`` ends them all."""

    def __init__(self, servers: Mapping[str, MCPServer]):
        self.servers = dict(servers)
        self._connections: Dict[str, MCPConnection] = {}

    def expand(self, tools: Sequence[Any]) -> List[Any]:
        """``tools`` with every ``"mcp:<name>"`` entry replaced by that server's ``Function``s."""
        out: List[Any] = []
        for entry in tools:
            if isinstance(entry, str) and entry.startswith(PREFIX) and entry[len(PREFIX) :] in self.servers:
                name = entry[len(PREFIX) :]
                conn = self._connections.get(name)
                if conn is None:
                    conn = self._connections[name] = self.servers[name].session()
                out.extend(self.servers[name].functions(conn))
            else:
                out.append(entry)
        return out

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()

    async def aclose(self) -> None:
        await asyncio.gather(*(conn.aclose() for conn in self._connections.values()))


__all__ = ["MCPServer", "MCPConnection", "MCPScope", "MCPError", "MCPToolError", "mcp_servers_for", "result_text"]
