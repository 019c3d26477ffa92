"""AnthropicInvoker streaming (Messages SSE) against recorded streams replayed in small chunks."""

from __future__ import annotations

from typing import List

import pytest
from support.cassette_server import CassetteServer, load_cassette

from lllm.core.const import Roles
from lllm.core.dialog import Dialog
from lllm.core.message import Message
from lllm.core.stream import BaseStreamHandler
from lllm.core.tools import Function
from lllm.errors import ProviderError
from lllm.invokers.anthropic import THINKING_KEY, AnthropicInvoker, StreamAssembler, parse_message

A = "anthropic/"


class Collect(BaseStreamHandler):
    def __init__(self):
        self.tokens: List[str] = []
        self.raw: List[dict] = []
        self.done = 0

    def handle_chunk(self, text, raw=None):
        self.raw.append(raw)
        super().handle_chunk(text, raw)

    def on_token(self, text):
        self.tokens.append(text)

    def on_done(self):
        self.done += 1


def args_for(server, **extra):
    return {"api_base": server.url, "api_key": "sk-ant-test", **extra}


def dialog(text: str) -> Dialog:
    d = Dialog()
    d.put_text(text)
    return d


async def test_stream_plain_text(cassette):
    server = cassette("anthropic/test_request_stream_fallback_for_high_max_tokens.yaml", sse_chunk=7)
    h = Collect()
    res = await AnthropicInvoker().acall(
        dialog("What is 1+1? Answer with just the number."),
        A + "claude-sonnet-4-5",
        args_for(server, max_tokens=32000),
        stream_handler=h,
    )
    server.assert_all_served()
    body, rec = server.requests[0]["json"], server.recorded_request(0)
    assert body["stream"] is True and body["max_tokens"] == 32000 and body["messages"] == rec["messages"]
    assert "stream_options" not in body
    assert h.tokens == ["2"] and h.done == 1 and h.raw[0]["type"] == "content_block_delta"
    m = res.message
    assert m.content == "2" and m.role == Roles.ASSISTANT and m.model == "claude-sonnet-4-5-20250929"
    assert m.metadata["finish_reason"] == "end_turn"
    assert m.usage["prompt_tokens"] == 20 and m.usage["completion_tokens"] == 5 and res.cost.cost > 0
    assert res.request["stream"] is True and isinstance(res.raw_response, list)
    assert res.raw_response[-1] == {"type": "message_stop"}


async def test_stream_requested_by_model_args_without_handler(cassette):
    server = cassette("anthropic/test_request_stream_fallback_for_high_max_tokens.yaml")
    res = await AnthropicInvoker().acall(
        dialog("What is 1+1? Answer with just the number."),
        A + "claude-sonnet-4-5",
        args_for(server, max_tokens=32000, stream=True),
    )
    assert server.requests[0]["json"]["stream"] is True and res.message.content == "2"


async def test_stream_same_result_as_non_stream(cassette):
    """The streamed message equals the one parsed from the final message object."""
    server = cassette("anthropic/test_anthropic_model_thinking_part_stream.yaml")
    res = await AnthropicInvoker().acall(
        dialog("How do I cross the street?"),
        A + "claude-sonnet-4-0",
        args_for(server, thinking={"type": "enabled", "budget_tokens": 1024}),
        stream_handler=Collect(),
    )
    asm = StreamAssembler(None)
    for data in res.raw_response:
        asm.feed(data)
    again = parse_message(asm.result())
    assert again.content == res.message.content and again.metadata[THINKING_KEY] == res.message.metadata[THINKING_KEY]


async def test_stream_thinking(cassette):
    server = cassette("anthropic/test_anthropic_model_thinking_part_stream.yaml", sse_chunk=11)
    h = Collect()
    res = await AnthropicInvoker().acall(
        dialog("How do I cross the street?"),
        A + "claude-sonnet-4-0",
        args_for(server, thinking={"type": "enabled", "budget_tokens": 1024}),
        stream_handler=h,
    )
    body = server.requests[0]["json"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024} and body["max_tokens"] == 4096
    m = res.message
    (block,) = m.metadata[THINKING_KEY]
    assert block["type"] == "thinking"
    assert block["thinking"] == (
        "This is a straightforward question about pedestrian safety. I should provide "
        "clear, helpful advice about how to safely cross a street. This is basic safety "
        "information that could help prevent accidents."
    )
    assert block["signature"].startswith("EvMCCkYICxgCKkCHP2cS") and block["signature"].endswith("jfQYAQ==")
    assert m.content.startswith("Here are the basic steps for safely crossing the street:")
    assert "".join(h.tokens) == m.content and "straightforward question" not in "".join(
        h.tokens
    )  # thinking never streams
    assert h.done == 1


async def test_stream_tool_use_and_follow_up(cassette):
    server = cassette("anthropic/test_anthropic_native_tool_search_streaming.yaml", sse_chunk=5)
    rec0 = server.recorded_request(0)
    fns = [
        Function(
            "get_exchange_rate",
            "Look up the current exchange rate between two currencies.",
            {"from_currency": {"type": "string"}, "to_currency": {"type": "string"}},
            ["from_currency", "to_currency"],
        ),
        Function("stock_lookup", "Look up stock price by ticker symbol.", {"symbol": {"type": "string"}}, ["symbol"]),
    ]
    d = dialog("What is the current USD to EUR exchange rate?")
    inv = AnthropicInvoker()
    h = Collect()
    res = await inv.acall(d, A + "claude-sonnet-4-6", args_for(server), stream_handler=h, functions=fns)
    body = server.requests[0]["json"]
    assert body["messages"] == rec0["messages"]
    assert [t["name"] for t in body["tools"]] == ["get_exchange_rate", "stock_lookup"]
    assert [t["input_schema"] for t in body["tools"]] == [t["input_schema"] for t in rec0["tools"][:2]]
    m = res.message
    assert m.role == Roles.TOOL_CALL and m.metadata["finish_reason"] == "tool_use"
    (call,) = m.function_calls  # the server-side tool search is not a client tool call
    assert call.id == "toolu_01EFn5wTNBYA8Reni8rbmnHT" and call.name == "get_exchange_rate"
    assert call.arguments == {"from_currency": "USD", "to_currency": "EUR"}
    assert m.content == (
        "Let me search for a tool that can provide current exchange rate information."
        "I found the right tool! Let me fetch the current USD to EUR exchange rate for you."
    )
    assert "".join(h.tokens) == m.content and h.done == 1

    d.append(m)
    d.append(Message(role=Roles.TOOL, content="1 USD = 0.92 EUR", name=call.name, metadata={"tool_call_id": call.id}))
    h2 = Collect()
    res2 = await inv.acall(d, A + "claude-sonnet-4-6", args_for(server), stream_handler=h2, functions=fns)
    server.assert_all_served()
    msgs = server.requests[1]["json"]["messages"]
    assert [x["role"] for x in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"][-1] == server.recorded_request(1)["messages"][1]["content"][-1]  # the tool_use block
    (result,) = msgs[2]["content"]
    assert result == {"type": "tool_result", "tool_use_id": call.id, "content": "1 USD = 0.92 EUR"}
    assert res2.message.content.startswith("The current exchange rate is **1 USD = 0.92 EUR**")
    assert res2.message.usage["prompt_tokens"] == 1007 and res2.message.usage["completion_tokens"] == 59
    assert h2.done == 1


def _sse_interaction(text: str):
    return [
        {
            "request": {"method": "POST", "uri": "https://api.anthropic.com/v1/messages"},
            "response": {
                "status": {"code": 200},
                "headers": {"content-type": ["text/event-stream"]},
                "body": {"string": text},
            },
        }
    ]


_START = (
    'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x","id":"m","type":"message",'
    '"role":"assistant","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}\n\n'
)


async def test_stream_error_event_is_a_provider_error():
    text = _START + (
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}  }\n\n'
    )
    h = Collect()
    with CassetteServer(_sse_interaction(text)) as server:
        with pytest.raises(ProviderError) as ei:
            await AnthropicInvoker().acall(dialog("hi"), A + "claude-x", args_for(server), stream_handler=h)
    assert ei.value.kind == "transient" and "Overloaded" in str(ei.value)
    assert h.tokens == ["Hel"] and h.done == 1


async def test_stream_cut_before_message_stop_is_transient():
    h = Collect()
    with CassetteServer(_sse_interaction(_START)) as server:
        with pytest.raises(ProviderError) as ei:
            await AnthropicInvoker().acall(dialog("hi"), A + "claude-x", args_for(server), stream_handler=h)
    assert ei.value.kind == "transient" and h.done == 1


async def test_stream_malformed_tool_input_is_an_execution_error():
    text = (
        'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x","id":"m","content":[],'
        '"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
        'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":'
        '{"type":"tool_use","id":"toolu_9","name":"f","input":{}}}\n\n'
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        '{"type":"input_json_delta","partial_json":"{\\"a\\": "}}\n\n'
        'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}\n\n'
        'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    with CassetteServer(_sse_interaction(text)) as server:
        res = await AnthropicInvoker().acall(dialog("hi"), A + "claude-x", args_for(server, stream=True))
    assert res.has_errors and "malformed JSON" in res.error_message
    assert res.message.function_calls[0].id == "toolu_9" and res.message.usage["completion_tokens"] == 9


def test_sync_stream(cassette):
    interactions = load_cassette("anthropic/test_request_stream_fallback_for_high_max_tokens.yaml")
    h = Collect()
    with CassetteServer(interactions) as server:
        res = AnthropicInvoker().call(
            dialog("What is 1+1? Answer with just the number."),
            "claude-sonnet-4-5",
            args_for(server, max_tokens=32000),
            stream_handler=h,
        )
    assert res.message.content == "2" and h.tokens == ["2"] and h.done == 1
