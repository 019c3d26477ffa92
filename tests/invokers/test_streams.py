"""Streamed answers over a real local server (recorded-style SSE replayed in small chunks)."""

from __future__ import annotations

import json

import pytest
from support.cassette_server import CassetteServer

from lllm.core.dialog import Dialog
from lllm.core.tools import Function
from lllm.errors import ProviderError
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


def _json_answer(path, body):
    return [
        {
            "request": {"method": "POST", "uri": "http://127.0.0.1" + path},
            "response": {"status": {"code": 200}, "parsed_body": body},
        }
    ]


@pytest.mark.parametrize(
    "model, path, body, words",
    [
        (
            "openai/m",
            "/v1/chat/completions",
            {"error": {"message": "model 'm' not found", "code": 404}},
            "model 'm' not found",
        ),
        (
            "anthropic/claude-x",
            "/v1/messages",
            {"type": "error", "error": {"type": "invalid_request_error", "message": "bad max_tokens"}},
            "bad max_tokens",
        ),
        (
            "openai/m",
            "/v1/chat/completions",
            {"choices": [{"message": {"content": "a whole answer"}}]},
            "does not stream",
        ),
    ],
)
async def test_a_json_body_answering_a_streamed_request_is_reported_as_such(model, path, body, words):
    """A server that answers ``stream: true`` with one JSON body (its error, or a whole answer) is not a stream
    "cut" to retry: the error is the provider's own, or says the server does not stream."""
    from lllm.invokers.anthropic import AnthropicInvoker

    inv = AnthropicInvoker() if model.startswith("anthropic/") else OpenAIInvoker()
    base = "" if model.startswith("anthropic/") else "/v1"
    with CassetteServer(_json_answer(path, body)) as server:
        with pytest.raises(ProviderError) as ei:
            await inv.acall(_ask(), model, {"api_base": server.url + base, "api_key": "k", "stream": True})
    assert words in str(ei.value) and "cut" not in str(ei.value) and ei.value.kind is None


@pytest.mark.parametrize(
    "model, path, body, stream",
    [
        ("openai/m", "/v1/chat/completions", [{"error": {"message": "x"}}], False),
        ("openai/m", "/v1/chat/completions", None, False),
        ("anthropic/claude-x", "/v1/messages", "hello", False),
        ("openai/m", "/v1/chat/completions", 'data: "keepalive"\n\ndata: [DONE]\n\n', True),
    ],
)
async def test_json_that_is_not_an_object_is_a_provider_error(model, path, body, stream):
    """A 200 answer (or a stream event) whose JSON is a list, a string or null: a ProviderError naming it, not a
    bare AttributeError from reading it as an object."""
    from lllm.invokers.anthropic import AnthropicInvoker

    interaction = _sse([], path) if stream else _json_answer(path, body)
    if stream:
        interaction[0]["response"]["body"]["string"] = body
    inv = AnthropicInvoker() if model.startswith("anthropic/") else OpenAIInvoker()
    base = "" if model.startswith("anthropic/") else "/v1"
    with CassetteServer(interaction) as server:
        with pytest.raises(ProviderError) as ei:
            await inv.acall(_ask(), model, {"api_base": server.url + base, "api_key": "k", "stream": stream})
    assert "not an object" in str(ei.value) and ei.value.kind == "transient"


async def test_a_snapshot_name_the_price_table_lacks_is_priced_by_the_requested_name_without_a_false_warning(
    caplog, table_cache_dir, tmp_path
):
    """The answer names a dated snapshot the table does not know yet: the call is priced by the requested model,
    so no warning may claim it was "recorded at cost $0"."""
    import logging

    table_cache_dir(str(tmp_path / "cache"))
    answer = {
        "model": "gpt-4o-mini-2099-12-31",
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100},
    }
    with caplog.at_level(logging.WARNING, logger="lllm.pricing"):
        with CassetteServer(_json_answer("/v1/chat/completions", answer)) as server:
            res = await OpenAIInvoker().acall(
                _ask(), "openai/gpt-4o-mini", {"api_base": server.url + "/v1", "api_key": "k"}
            )
    assert res.message.usage["cost"] > 0
    assert not [r for r in caplog.records if "$0" in r.getMessage()], [r.getMessage() for r in caplog.records]


async def test_a_chat_stream_that_finished_but_sends_no_done_marker_is_complete():
    """Several OpenAI-compatible servers (older llama.cpp, TGI, text-generation-webui, ...) end the stream after the
    chunk carrying ``finish_reason`` without ``data: [DONE]``: the answer is whole, not a cut stream to retry."""
    chunks = [
        {"model": "local", "choices": [{"index": 0, "delta": {"content": "Hello "}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "there"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    interaction = _sse(chunks)
    interaction[0]["response"]["body"]["string"] = interaction[0]["response"]["body"]["string"].replace(
        "data: [DONE]\n\n", ""
    )
    with CassetteServer(interaction, sse_chunk=7) as server:
        res = await OpenAIInvoker().acall(_ask(), "openai/local", {"api_base": server.url + "/v1", "stream": True})
    assert res.message.content == "Hello there" and res.message.metadata["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "error",
    [
        {"error": "Input validation error: `top_p` must be > 0.0 and < 1.0", "error_type": "validation"},  # TGI
        {"error": {"message": "Invalid value for 'n'", "type": "invalid_request_error", "param": "n", "code": None}},
    ],
)
async def test_an_in_stream_error_the_request_caused_is_fatal(error):
    """An error envelope inside a 200 stream saying the request itself is invalid: retrying the same request
    cannot succeed, so it is not transient (only an error with no class at all is assumed transient)."""
    interaction = _sse([])
    interaction[0]["response"]["body"]["string"] = f"data: {json.dumps(error)}\n\n"
    with CassetteServer(interaction) as server:
        with pytest.raises(ProviderError) as ei:
            await OpenAIInvoker().acall(_ask(), "openai/m", {"api_base": server.url + "/v1", "stream": True})
    assert ei.value.kind is None and ("validation" in str(ei.value) or "Invalid value" in str(ei.value))


@pytest.mark.parametrize("model, path", [("openai/m", "/v1/chat/completions"), ("anthropic/claude-x", "/v1/messages")])
async def test_text_with_a_lone_surrogate_is_sent_escaped(model, path):
    """A file name or a command's output decoded with ``surrogateescape`` (invalid UTF-8 on disk) holds lone
    surrogates; the request failed with UnicodeEncodeError before leaving. It is sent \\u-escaped, as json.dumps
    and the provider SDKs send it."""
    import os

    from lllm.invokers.anthropic import AnthropicInvoker

    answer = (
        {"content": [{"type": "text", "text": "ok"}], "model": "claude-x", "stop_reason": "end_turn"}
        if model.startswith("anthropic/")
        else {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    )
    d = Dialog()
    d.put_text("files: " + os.fsdecode(b"report-\xe9t\xe9.txt"))
    inv = AnthropicInvoker() if model.startswith("anthropic/") else OpenAIInvoker()
    base = "" if model.startswith("anthropic/") else "/v1"
    with CassetteServer(_json_answer(path, answer)) as server:
        res = await inv.acall(d, model, {"api_base": server.url + base, "api_key": "k"})
        raw = server.requests[0]["raw"]
    assert res.message.content == "ok" and b"report-\\udce9t\\udce9.txt" in raw


async def test_a_stream_of_several_choices_keeps_the_first_as_the_non_streamed_answer_does():
    """With ``n`` > 1 the chunks of the choices interleave; the answer (and the handler) get choice 0, as
    ``parse_chat`` takes choice 0 of a whole answer, not the choices' deltas spliced together."""
    from lllm.core.stream import BaseStreamHandler

    class Collect(BaseStreamHandler):
        def __init__(self):
            self.tokens = []

        def on_token(self, text):
            self.tokens.append(text)

    def piece(i, text, finish=None):
        return {"choices": [{"index": i, "delta": {"content": text}, "finish_reason": finish}]}

    chunks = [
        piece(0, "Red "),
        piece(1, "Blue "),
        piece(0, "apple"),
        piece(1, "sky"),
        piece(0, "", "stop"),
        piece(1, "", "length"),
    ]
    h = Collect()
    with CassetteServer(_sse(chunks), sse_chunk=11) as server:
        res = await OpenAIInvoker().acall(
            _ask(), "openai/m", {"api_base": server.url + "/v1", "n": 2}, stream_handler=h
        )
    assert res.message.content == "Red apple" and "".join(h.tokens) == "Red apple"
    assert res.message.metadata["finish_reason"] == "stop"


async def test_a_streamed_refusal_is_kept_as_a_whole_answers_is():
    """OpenAI streams a refusal in ``delta.refusal``; the whole answer keeps it in ``metadata['refusal']``, the
    streamed one dropped it (an empty answer with no reason)."""
    chunks = [
        {
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": None, "refusal": ""}, "finish_reason": None}
            ]
        },
        {"choices": [{"index": 0, "delta": {"refusal": "I can't help "}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"refusal": "with that."}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    with CassetteServer(_sse(chunks)) as server:
        res = await OpenAIInvoker().acall(_ask(), "openai/m", {"api_base": server.url + "/v1", "stream": True})
    assert res.message.metadata.get("refusal") == "I can't help with that."
