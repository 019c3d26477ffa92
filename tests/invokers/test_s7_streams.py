"""Streamed answers over a real local server (recorded-style SSE replayed in small chunks)."""

from __future__ import annotations

import json

from support.cassette_server import CassetteServer

from lllm.core.dialog import Dialog
from lllm.core.tools import Function
from lllm.invokers.openai import OpenAIInvoker


def _sse(chunks, path="/v1/chat/completions"):
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return [
        {
            "request": {"method": "POST", "uri": "http://127.0.0.1" + path},
            "response": {
                "status": {"code": 200},
                "headers": {"content-type": ["text/event-stream"]},
                "body": {"string": text},
            },
        }
    ]


def _call_delta(index, id, name, arguments):
    return {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": id,
                            "type": "function",
                            "function": {"name": name, "arguments": arguments},
                        }
                    ]
                },
                "finish_reason": None,
            }
        ]
    }


async def test_parallel_tool_calls_that_all_carry_index_0_stay_apart():
    """Gemini's OpenAI-compatible API streams every parallel call with ``index`` 0, each with its own id:
    they are separate calls, not fragments of one (which would merge their arguments into invalid JSON)."""
    chunks = [
        {"model": "gemini-x", "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]},
        _call_delta(0, "call_a", "get_weather", '{"city":"Paris"}'),
        _call_delta(0, "call_b", "get_weather", '{"city":"Oslo"}'),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    fn = Function("get_weather", "Weather of a city.", {"city": {"type": "string"}}, required=["city"])
    d = Dialog()
    d.put_text("weather in Paris and Oslo?")
    with CassetteServer(_sse(chunks), sse_chunk=9) as server:
        res = await OpenAIInvoker().acall(
            d, "openai/gemini-x", {"api_base": server.url + "/v1", "api_key": "k", "stream": True}, functions=[fn]
        )
    calls = [(c.id, c.name, c.arguments) for c in res.message.function_calls]
    assert calls == [("call_a", "get_weather", {"city": "Paris"}), ("call_b", "get_weather", {"city": "Oslo"})]
    assert not res.execution_errors


async def test_one_call_streamed_in_fragments_is_still_one_call():
    chunks = [
        _call_delta(0, "call_a", "get_weather", ""),
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "id": "call_a", "function": {"arguments": 'ty":"Rome"}'}}]},
                }
            ]
        },
        _call_delta(1, "call_b", "get_weather", '{"city":"Oslo"}'),
    ]
    with CassetteServer(_sse(chunks), sse_chunk=5) as server:
        res = await OpenAIInvoker().acall(
            _ask(),
            "openai/m",
            {"api_base": server.url + "/v1", "api_key": "k", "stream": True},
        )
    calls = [(c.id, c.arguments) for c in res.message.function_calls]
    assert calls == [("call_a", {"city": "Rome"}), ("call_b", {"city": "Oslo"})]


def _ask() -> Dialog:
    d = Dialog()
    d.put_text("x")
    return d
