"""The served tactics as MCP tools (the official ``mcp`` package's low-level server): over stdio
(``lllm serve --mcp-stdio``) and over streamable HTTP at ``/mcp`` (stateless, JSON responses).

A tool's input schema is the tactic's typed input; an untyped tactic takes ``{"task": ...}``."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List

from aiohttp import web

from lllm.core.aio import within
from lllm.core.jsonable import to_json_safe
from lllm.secrets import scrub, scrub_text
from lllm.serve.calls import State, failure_body, start_call
from lllm.serve.tactics import ServedTactic

UNTYPED_INPUT = {"type": "object", "properties": {"task": {"description": "the task (any JSON)"}}, "required": ["task"]}


def _resolved(schema: Dict[str, Any]) -> Dict[str, Any]:
    """``schema`` with a top-level ``$ref`` (how pydantic writes a recursive model) replaced by its definition."""
    ref, defs = schema.get("$ref"), schema.get("$defs") or {}
    if isinstance(ref, str) and ref.startswith("#/$defs/") and "properties" not in schema:
        target = defs.get(ref.rsplit("/", 1)[1])
        if isinstance(target, dict):
            return {**target, "$defs": defs}
    return schema


def _input_schema(t: ServedTactic) -> Dict[str, Any]:
    schema = _resolved(t.input_schema())
    return schema if schema.get("type") == "object" else UNTYPED_INPUT


def build_server(state: State) -> Any:
    """An ``mcp`` low-level ``Server`` whose tools are ``state``'s tactics."""
    import mcp.types as types
    from mcp.server.lowlevel import Server

    server: Any = Server("lllm-serve")

    @server.list_tools()  # type: ignore[untyped-decorator]  # mcp's decorators are unannotated
    async def list_tools() -> List[types.Tool]:
        return [
            types.Tool(
                name=t.name,
                description=t.description,
                inputSchema=_input_schema(t),
                outputSchema=_resolved(t.output_schema()) or None,
            )
            for t in state.tactics.values()
        ]

    @server.call_tool()  # type: ignore[untyped-decorator]  # mcp's decorators are unannotated
    async def call_tool(name: str, arguments: Dict[str, Any]) -> Any:
        t = state.tactics.get(name)
        if t is None:
            raise ValueError(f"No tactic '{name}' here; tools: {sorted(state.tactics)}")
        task = t.input_model.model_validate(arguments) if t.input_model else arguments.get("task")
        if state.draining or len(state.in_flight) >= state.limits.max_concurrency:
            raise RuntimeError("The server is full or shutting down; retry later.")
        fut = start_call(state, t, task)
        try:
            session = await within(asyncio.shield(fut), state.limits.timeout_s)
        except asyncio.TimeoutError:
            fut.cancel()
            raise RuntimeError(f"Tactic '{name}' did not finish within {state.limits.timeout_s:g} s") from None
        except asyncio.CancelledError:
            fut.cancel()  # the client went away (or the server stops): the call stops too
            raise
        except Exception as e:  # noqa: BLE001 - the reason goes back to the client, scrubbed
            raise RuntimeError(scrub_text(failure_body(t, e)["error"])) from None
        result = scrub(to_json_safe(session.delivery))  # before dumping: JSON escapes a quote or backslash in a key
        text = scrub_text(result if isinstance(result, str) else json.dumps(result, ensure_ascii=False))
        content = [types.TextContent(type="text", text=text)]
        if t.output_model is not None:
            return content, json.loads(text)
        return content

    return server


async def run_stdio(state: State, stdout: Any = None) -> None:
    """Serve the tactics as MCP tools over this process's stdin and stdout (or ``stdout``, a binary file
    kept for the protocol) until the client closes."""
    from io import TextIOWrapper

    import anyio
    from mcp.server.stdio import stdio_server

    server = build_server(state)
    out = None if stdout is None else anyio.wrap_file(TextIOWrapper(stdout, encoding="utf-8"))
    async with stdio_server(stdout=out) as (read, write):
        await server.run(read, write, server.create_initialization_options())


def add_mcp_routes(app: web.Application, state: State) -> None:
    """``POST /mcp``: streamable HTTP, stateless (no session id), each request answered as JSON; the app's
    guard checks the token (``Authorization: Bearer T``) and the loopback rule as for every route."""
    holder: Dict[str, Any] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            import anyio
            import mcp.types as types
            from mcp.shared.message import SessionMessage
        except ImportError:
            return web.json_response({"error": "MCP needs the 'mcp' package: pip install 'lllm-core[mcp]'"}, status=501)
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        try:
            message = types.JSONRPCMessage.model_validate_json(await request.read())
        except ValueError as e:
            return web.json_response(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": f"Parse error: {e}"}}, status=400
            )
        if not isinstance(message.root, types.JSONRPCRequest):
            return web.Response(status=202)  # a notification or a response: accepted, nothing to answer
        server = holder.get("server") or holder.setdefault("server", build_server(state))
        send_in, recv_in = anyio.create_memory_object_stream[Any](4)
        send_out, recv_out = anyio.create_memory_object_stream[Any](16)
        answer: Any = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: server.run(recv_in, send_out, server.create_initialization_options(), False, True))
            await send_in.send(SessionMessage(message))
            async for out in recv_out:
                root = out.message.root
                if isinstance(root, (types.JSONRPCResponse, types.JSONRPCError)) and root.id == message.root.id:
                    answer = out.message
                    break
            tg.cancel_scope.cancel()
        body = scrub_text(answer.model_dump_json(by_alias=True, exclude_none=True))
        return web.Response(text=body, content_type="application/json")

    app.router.add_route("*", "/mcp", handle)


__all__ = ["build_server", "run_stdio", "add_mcp_routes", "UNTYPED_INPUT"]
