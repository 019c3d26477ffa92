"""Failure modes over real sockets: the benchmark's fake OpenAI server (subprocess) with injected
faults, plus small in-test servers for dropped connections and broken SSE streams.

Every failure must surface as a ProviderError whose ``kind`` is the retry class, quickly."""

from __future__ import annotations

import asyncio
import time
from typing import List

import pytest
from aiohttp import web
from support.fake_server import FakeServers

from lllm.core.dialog import Dialog
from lllm.core.stream import BaseStreamHandler
from lllm.core.tools import Function
from lllm.errors import ProviderError
from lllm.invokers import http
from lllm.invokers.openai import OpenAIInvoker


@pytest.fixture(scope="module")
def fake(fake_servers) -> FakeServers:
    return fake_servers


def ask(text: str = "hello") -> Dialog:
    d = Dialog()
    d.put_text(text)
    return d


class Collect(BaseStreamHandler):
    def __init__(self) -> None:
        self.tokens: List[str] = []
        self.done = 0

    def on_token(self, text: str) -> None:
        self.tokens.append(text)

    def on_done(self) -> None:
        self.done += 1


# ---------------------------------------------------------------------------------------------
# the fake server: happy path, 429, 500, hang
# ---------------------------------------------------------------------------------------------


async def test_happy_path_pooled_and_concurrent(fake):
    base = fake("--latency-ms", "5")
    inv = OpenAIInvoker()
    args = {"api_base": base, "api_key": "sk-fake"}
    res = await inv.acall(ask(), "openai/fake-model", args)
    assert res.message.content.startswith("This is a deterministic answer")
    pool = http.get_pool()
    results = await asyncio.gather(*(inv.acall(ask(f"q{i}"), "openai/fake-model", args) for i in range(50)))
    assert all(r.message.content for r in results)
    assert http.get_pool() is pool  # one pool per loop, reused by every call
    assert 1 <= sum(map(len, pool.idle.values())) <= 50 and pool.in_use == 0  # keep-alive connections are pooled


def test_sync_call_stream_and_tool_loop(fake):
    base = fake("--latency-ms", "5", "--tool-calls", "2")
    inv = OpenAIInvoker()
    args = {"api_base": base, "api_key": "sk-fake"}
    h = Collect()
    res = inv.call(ask(), "openai/fake-model", args, stream_handler=h)
    assert "".join(h.tokens) == res.message.content and h.done == 1 and res.cost.total_tokens > 0
    fn = Function("get_weather", "Weather of a city.", {"city": {"type": "string"}}, required=["city"])
    d = ask("weather in Paris?")
    for round_no in range(1, 4):  # the server asks for the tool twice (its arguments vary per round), then answers
        r = inv.call(d, "openai/fake-model", args, functions=[fn], stream_handler=Collect())
        d.append(r.message)
        if not r.message.function_calls:
            break
        for c in r.message.function_calls:
            assert c.arguments == {"city": f"Paris {round_no}"}
            d.put_text("sunny", name=c.name, role="tool", metadata={"tool_call_id": c.id})
    assert d.tail.content.startswith("After 2 tool calls")


@pytest.mark.parametrize("retry_after, expected", [("1", 1.0), ("2.5", 2.5)])
async def test_429_is_rate_limit_with_retry_after(fake, retry_after, expected):
    base = fake("--p429", "1", "--retry-after", retry_after)
    inv = OpenAIInvoker()
    with pytest.raises(ProviderError) as ei:
        await inv.acall(ask(), "openai/fake-model", {"api_base": base, "api_key": "k"})
    e = ei.value
    assert e.kind == "rate_limit" and e.status == 429 and e.retry_after == pytest.approx(expected)
    assert inv.classify_error(e) == "rate_limit" and "Rate limit reached" in str(e)


def test_500_is_transient(fake):
    base = fake("--p500", "1")
    with pytest.raises(ProviderError) as ei:
        OpenAIInvoker().call(ask(), "openai/fake-model", {"api_base": base, "api_key": "k"})
    assert ei.value.kind == "transient" and ei.value.status == 500 and "(injected)" in str(ei.value)


@pytest.mark.parametrize("stream", [False, True])
async def test_hang_past_timeout_is_transient_and_bounded(fake, stream):
    base = fake("--phang", "1", "--hang-s", "30")
    t0 = time.perf_counter()
    with pytest.raises(ProviderError) as ei:
        await OpenAIInvoker().acall(
            ask(),
            "openai/fake-model",
            {"api_base": base, "api_key": "k", "timeout": 0.5},
            stream_handler=Collect() if stream else None,
        )
    elapsed = time.perf_counter() - t0
    assert ei.value.kind == "transient" and "timed out after 0.5s" in str(ei.value)
    assert 0.4 < elapsed < 1.5


async def test_connection_refused_is_transient():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ProviderError) as ei:
        await OpenAIInvoker().acall(ask(), "openai/m", {"api_base": f"http://127.0.0.1:{port}/v1", "timeout": 2})
    assert ei.value.kind == "transient"


async def test_invalid_api_base_is_fatal():
    with pytest.raises(ProviderError) as ei:
        await OpenAIInvoker().acall(ask(), "openai/m", {"api_base": "127.0.0.1:1/v1", "timeout": 2})
    assert ei.value.kind is None and "api_base" in str(ei.value)


# ---------------------------------------------------------------------------------------------
# dropped connections and broken streams (in-test servers)
# ---------------------------------------------------------------------------------------------


async def test_dropped_connection_is_transient():
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)  # read part of the request, then hang up without answering
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ProviderError) as ei:
            await OpenAIInvoker().acall(ask(), "openai/m", {"api_base": f"http://127.0.0.1:{port}/v1", "timeout": 2})
        assert ei.value.kind == "transient" and "closed the connection before its answer ended" in str(ei.value)
    finally:
        server.close()
        await server.wait_closed()


CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'


async def _sse_server(behaviour: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(CHUNK)
        if behaviour == "cut":  # half an event, then the connection dies
            await resp.write(b'data: {"choices":[{"ind')
            await asyncio.sleep(0.01)
            request.transport.close()
            return resp
        if behaviour == "nodone":  # a clean end of body, but no [DONE]
            await resp.write_eof()
            return resp
        if behaviour == "garbage":
            await resp.write(b"data: <html>502 Bad Gateway</html>\n\n")
            await resp.write_eof()
            return resp
        if behaviour == "error_event":  # an OpenRouter-style error inside the stream
            await resp.write(b'data: {"error":{"code":502,"message":"upstream died"}}\n\n')
            await resp.write_eof()
            return resp
        raise AssertionError(behaviour)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"


@pytest.mark.parametrize(
    "behaviour, words",
    [("cut", "cut"), ("nodone", "[DONE]"), ("garbage", "non-JSON"), ("error_event", "upstream died")],
)
async def test_broken_streams_are_transient(behaviour, words):
    runner, base = await _sse_server(behaviour)
    h = Collect()
    try:
        t0 = time.perf_counter()
        with pytest.raises(ProviderError) as ei:
            await OpenAIInvoker().acall(ask(), "openai/m", {"api_base": base, "timeout": 2}, stream_handler=h)
        assert time.perf_counter() - t0 < 1.5
        assert ei.value.kind == "transient" and words in str(ei.value)
        assert h.tokens == ["Hel"] and h.done == 1  # deltas arrived before the failure; on_done still ran once
    finally:
        await runner.cleanup()
