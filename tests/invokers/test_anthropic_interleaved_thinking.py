"""Interleaved thinking (a thinking block after text or a tool call in one turn): the turn is replayed with
its thinking blocks where the model put them, as Anthropic requires, over a real local HTTP server."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest
from aiohttp import web

from lllm.core.const import Roles
from lllm.core.dialog import Dialog
from lllm.core.message import FunctionCall, Message
from lllm.core.tools import Function
from lllm.invokers.anthropic import ORDER_KEY, THINKING_KEY, AnthropicInvoker, anthropic_messages, parse_message

THINK_A = {"type": "thinking", "thinking": "First, look it up.", "signature": "sigA"}
THINK_B = {"type": "redacted_thinking", "data": "opaque"}
TURN = [
    THINK_A,
    {"type": "text", "text": "Let me check."},
    THINK_B,
    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
]
FINAL = [{"type": "text", "text": "Done."}]


def _message(content: List[Dict[str, Any]], stop: str) -> Dict[str, Any]:
    usage = {"input_tokens": 5, "output_tokens": 7}
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": stop,
        "usage": usage,
    }


def _sse(message: Dict[str, Any]) -> bytes:
    """The message as a Messages event stream, each block started, filled by a delta and stopped."""
    events: List[Dict[str, Any]] = [{"type": "message_start", "message": {**message, "content": []}}]
    for i, b in enumerate(message["content"]):
        if b["type"] == "tool_use":
            start, delta = {**b, "input": {}}, {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}
        elif b["type"] == "text":
            start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": b["text"]}
        elif b["type"] == "thinking":
            start, delta = {**b, "thinking": ""}, {"type": "thinking_delta", "thinking": b["thinking"]}
        else:
            start, delta = b, None
        events.append({"type": "content_block_start", "index": i, "content_block": start})
        if delta is not None:
            events.append({"type": "content_block_delta", "index": i, "delta": delta})
        events.append({"type": "content_block_stop", "index": i})
    events += [{"type": "message_delta", "delta": {"stop_reason": message["stop_reason"]}}, {"type": "message_stop"}]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


@pytest.fixture
async def server():
    seen: List[Dict[str, Any]] = []

    async def messages(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append(body)
        answer = _message(TURN, "tool_use") if len(seen) == 1 else _message(FINAL, "end_turn")
        if not body.get("stream"):
            return web.json_response(answer)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(_sse(answer))
        return resp

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


@pytest.mark.parametrize("stream", [False, True])
async def test_an_interleaved_turn_is_replayed_in_the_order_the_model_gave_it(server, stream):
    url, seen = server
    args = {"api_base": url, "api_key": "sk-ant-test", "stream": stream}
    fn = Function("lookup", "Look something up.", {"type": "object", "properties": {"q": {"type": "string"}}})
    d = Dialog()
    d.put_text("Find x.")
    inv = AnthropicInvoker()
    first = (await inv.acall(d, "anthropic/claude-x", args, functions=[fn])).message
    assert first.metadata[ORDER_KEY] == ["thinking", "text", "thinking", "tool_use"]
    d.append(first)
    d.append(Message(role=Roles.TOOL, content="found", name="lookup", metadata={"tool_call_id": "toolu_1"}))
    await inv.acall(d, "anthropic/claude-x", args, functions=[fn])
    assert seen[1]["messages"][1] == {"role": "assistant", "content": TURN}


def test_thinking_first_turns_record_no_order_and_an_edited_turn_falls_back_to_thinking_first():
    out = parse_message(_message([THINK_A, THINK_B, *TURN[1:2], TURN[3]], "tool_use"))
    assert THINKING_KEY in out.metadata and ORDER_KEY not in out.metadata
    plain = Message(
        role=Roles.ASSISTANT,
        content="Let me check.",
        function_calls=[FunctionCall(id="toolu_1", name="lookup", arguments={"q": "x"})],
        metadata={THINKING_KEY: [THINK_A, THINK_B], ORDER_KEY: ["thinking", "text", "thinking", "tool_use"]},
    )
    _, wire, _ = anthropic_messages([plain])
    assert wire[0]["content"] == TURN
    edited = plain.model_copy(update={"function_calls": []})  # the tool call was removed: the order no longer fits
    _, wire, _ = anthropic_messages([edited])
    assert [b["type"] for b in wire[0]["content"]] == ["thinking", "redacted_thinking", "text"]
