"""The incremental SSE decoder and ``aiter_sse`` (stream end, cut streams, invalid data)."""

from __future__ import annotations

import json

import pytest
from support.cassette_server import load_cassette

from lllm.errors import ProviderError
from lllm.invokers.sse import SSEDecoder, aiter_sse


def feed_all(raw: bytes, step: int):
    dec = SSEDecoder()
    out = []
    for i in range(0, len(raw), step):
        out += dec.feed(raw[i : i + step])
    out += dec.flush()
    return out, dec


async def chunks(raw: bytes, step: int = 7):
    for i in range(0, len(raw), step):
        yield raw[i : i + step]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 10_000])
@pytest.mark.parametrize("nl", [b"\n", b"\r\n", b"\r"])
def test_decoder_any_split_and_line_ending(step, nl):
    raw = nl.join(
        [
            b"event: a",
            b'data: {"x": 1}',
            b"",
            b": ping",
            b"",
            b"data: line1",
            b"data:line2",
            b"id: 7",
            b"retry: 10",
            b"",
            b"data: [DONE]",
            b"",
            b"",
        ]
    )
    events, dec = feed_all(raw, step)
    assert events == [("a", b'{"x": 1}'), ("message", b"line1\nline2"), ("message", b"[DONE]")]
    assert not dec.pending


def test_decoder_bom_and_event_reset():
    raw = b"\xef\xbb\xbfevent: first\ndata: 1\n\ndata: 2\n\n"
    events, _ = feed_all(raw, 1)
    assert events == [("first", b"1"), ("message", b"2")]


def test_decoder_blank_lines_without_data_dispatch_nothing():
    events, dec = feed_all(b"\n\n: c\n\nevent: x\n\n", 3)
    assert events == [] and not dec.pending


def test_decoder_pending_partial_event():
    dec = SSEDecoder()
    assert dec.feed(b'data: {"a":1}\n\ndata: {"b"') == [("message", b'{"a":1}')]
    assert dec.pending


async def test_aiter_stops_at_done_and_parses_json():
    raw = b'data: {"a": 1}\n\ndata: {"b": [1,2]}\n\ndata: [DONE]\n\ndata: {"after": true}\n\n'
    got = [x async for x in aiter_sse(chunks(raw))]
    assert got == [("message", {"a": 1}), ("message", {"b": [1, 2]})]


async def test_aiter_terminal_event_is_yielded_then_stops():
    raw = (
        b'event: message_start\ndata: {"type":"message_start"}\n\n'
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"    }\n\n'
    )
    got = [e async for e, _ in aiter_sse(chunks(raw, 5), terminal_events=("message_stop",))]
    assert got == ["message_start", "ping", "message_stop"]


async def test_aiter_cut_mid_event_is_transient():
    with pytest.raises(ProviderError) as ei:
        [x async for x in aiter_sse(chunks(b'data: {"a": 1}\n\ndata: {"b"'), provider="openai")]
    assert ei.value.kind == "transient" and "cut" in str(ei.value) and ei.value.provider == "openai"


async def test_aiter_ended_without_done_is_transient():
    with pytest.raises(ProviderError) as ei:
        [x async for x in aiter_sse(chunks(b'data: {"a": 1}\n\n'))]
    assert ei.value.kind == "transient" and "[DONE]" in str(ei.value)


async def test_aiter_without_require_end_accepts_plain_eof():
    got = [x async for x in aiter_sse(chunks(b'data: {"a": 1}\r\n\r\n'), require_end=False)]
    assert got == [("message", {"a": 1})]


async def test_aiter_non_json_data_is_transient():
    with pytest.raises(ProviderError) as ei:
        [x async for x in aiter_sse(chunks(b"data: <html>oops</html>\n\n"))]
    assert ei.value.kind == "transient" and "non-JSON" in str(ei.value)


async def test_aiter_read_error_becomes_transient():
    async def broken():
        yield b'data: {"a": 1}\n\n'
        raise ConnectionResetError("peer reset")

    with pytest.raises(ProviderError) as ei:
        [x async for x in aiter_sse(broken())]
    assert ei.value.kind == "transient" and "ConnectionResetError" in str(ei.value)


@pytest.mark.parametrize(
    "name, terminal, require_end",
    [
        ("openai/test_run_stream_sync_streams_real_model.yaml", (), True),
        ("openai/test_temporal_agent_run_stream.yaml", (), True),
        ("anthropic/test_anthropic_model_thinking_part_stream.yaml", ("message_stop",), True),
        ("openai-responses/test_openai_responses_stream.yaml", ("response.completed",), True),
        ("google/test_google_model_stream.yaml", (), False),
    ],
)
async def test_recorded_streams_decode_completely(name, terminal, require_end):
    """Every recorded SSE body decodes into JSON events, split at any byte, with the right terminator."""
    for it in load_cassette(name):
        raw = it["response"]["body"]["string"].encode()
        events = [x async for x in aiter_sse(chunks(raw, 11), terminal_events=terminal, require_end=require_end)]
        assert events and all(isinstance(d, dict) for _, d in events)
        # byte-by-byte decoding gives the same events
        dec_events, _ = feed_all(raw, 1)
        parsed = [(e, json.loads(d)) for e, d in dec_events if d != b"[DONE]"]
        assert parsed[: len(events)] == events
