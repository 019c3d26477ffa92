"""Edge cases of the shared HTTP layer over real local servers: Retry-After dates, redirects of the
POST, and credentials kept out of the exceptions a failed request chains."""

from __future__ import annotations

import asyncio
import time
import traceback

import pytest
from aiohttp import web

from lllm.core.dialog import Dialog
from lllm.errors import ProviderError
from lllm.invokers import http
from lllm.invokers.openai import OpenAIInvoker


def ask(text: str = "hello") -> Dialog:
    d = Dialog()
    d.put_text(text)
    return d


@pytest.fixture
def new_york_time(monkeypatch):
    """The process's local zone is five hours behind UTC for one test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_retry_after_in_asctime_form_is_read_as_gmt(new_york_time):
    """HTTP dates are always GMT; the asctime form (which a client must accept) carries no zone name."""
    when = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(time.time() + 30))
    assert 25 < http.parse_retry_after({"retry-after": when}) <= 31


async def _server(routes):
    app = web.Application()
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_redirect_that_turns_the_post_into_a_get_names_the_redirect(stream):
    """A 301 from api_base (e.g. http:// → https://) makes the client re-send the call as a GET; the
    error must say so and name the new address, not report the 405 the GET earned."""

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(location="/v2/chat/completions")

    async def v2(request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.json_response({"error": {"message": "Method Not Allowed"}}, status=405)
        return web.json_response({"choices": [{"message": {"content": "hi"}}]})

    runner, root = await _server([("*", "/v1/chat/completions", moved), ("*", "/v2/chat/completions", v2)])
    try:
        with pytest.raises(ProviderError) as ei:
            await OpenAIInvoker().acall(
                ask(), "openai/m", {"api_base": root + "/v1", "api_key": "k", "timeout": 5, "stream": stream}
            )
        e = ei.value
        assert "redirect" in str(e) and root + "/v2/chat/completions" in str(e) and "api_base" in str(e)
        assert e.kind is None  # retrying cannot help: the configuration must change
    finally:
        await runner.cleanup()


async def test_a_307_redirect_that_keeps_the_post_still_works():
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(location="/v2/chat/completions")

    async def v2(request: web.Request) -> web.Response:
        assert request.method == "POST" and (await request.json())["model"] == "m"
        return web.json_response({"choices": [{"message": {"content": "moved answer"}}]})

    runner, root = await _server([("*", "/v1/chat/completions", moved), ("POST", "/v2/chat/completions", v2)])
    try:
        res = await OpenAIInvoker().acall(ask(), "openai/m", {"api_base": root + "/v1", "api_key": "k", "timeout": 5})
        assert res.message.content == "moved answer"
    finally:
        await runner.cleanup()


PROXY_PASSWORD = "s7proxypass0123456789"


@pytest.mark.parametrize("stream", [False, True])
async def test_proxy_credentials_stay_out_of_the_chained_exception(monkeypatch, stream):
    """An HTTPS call through an authenticating proxy that refuses it (407 to CONNECT): neither the error
    nor the aiohttp exception it is chained from may show the proxy's user:password@."""
    seen = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://s7user:{PROXY_PASSWORD}@127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "")
    api_base = f"https://s7-proxied-{stream}-{port}.invalid/v1"  # never resolved: the proxy is asked to CONNECT
    try:
        with pytest.raises(ProviderError) as ei:
            await OpenAIInvoker().acall(
                ask(), "openai/m", {"api_base": api_base, "api_key": "k", "timeout": 5, "stream": stream}
            )
        assert seen and seen[0].startswith(b"CONNECT ")
        text = "".join(traceback.format_exception(ei.value))
        assert "407" in str(ei.value) and PROXY_PASSWORD not in text
    finally:
        server.close()
        await server.wait_closed()


async def test_an_invalid_api_base_with_userinfo_stays_out_of_the_chained_exception():
    with pytest.raises(ProviderError) as ei:
        await OpenAIInvoker().acall(
            ask(), "openai/m", {"api_base": f"ftp://s7user:{PROXY_PASSWORD}@127.0.0.1/v1", "timeout": 5}
        )
    assert "api_base" in str(ei.value)
    assert PROXY_PASSWORD not in "".join(traceback.format_exception(ei.value))


@pytest.fixture(scope="module")
def fake(fake_servers):
    return fake_servers


@pytest.mark.parametrize("form", ["host:port", "host"])
async def test_ollama_host_in_ollamas_own_form_is_reached(fake, monkeypatch, form):
    """Ollama documents ``OLLAMA_HOST`` as ``host[:port]`` without a scheme (port 11434 by default)."""
    base = fake()
    hostport = base.split("://", 1)[1].rsplit("/v1", 1)[0]
    monkeypatch.delenv("OLLAMA_API_BASE", raising=False)
    if form == "host:port":
        monkeypatch.setenv("OLLAMA_HOST", hostport)
        res = await OpenAIInvoker().acall(ask(), "ollama/llama3", {"timeout": 5})
        assert res.message.content.startswith("This is a deterministic answer")
    else:
        from lllm.invokers.router import resolve_endpoint

        monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0")
        assert resolve_endpoint("ollama", "llama3").url == "http://0.0.0.0:11434/v1/chat/completions"


@pytest.mark.parametrize("timeout", ["soon", [5]])
async def test_a_timeout_that_is_not_a_number_is_a_config_error(fake, timeout):
    """Not a raw ValueError/TypeError from float(): the error names model_args['timeout']."""
    from lllm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model_args\['timeout'\]"):
        await OpenAIInvoker().acall(ask(), "openai/m", {"api_base": fake(), "api_key": "k", "timeout": timeout})


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_proxy_refusing_its_credentials_is_named_and_fatal(monkeypatch, scheme):
    """407 comes from the proxy, not the provider: the error says so, and retrying cannot fix credentials."""

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv(f"{scheme.upper()}_PROXY", f"http://s7user:{PROXY_PASSWORD}@127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "")
    try:
        with pytest.raises(ProviderError) as ei:
            await OpenAIInvoker().acall(
                ask(), "openai/m", {"api_base": f"{scheme}://s7-407-{port}.invalid/v1", "api_key": "k", "timeout": 5}
            )
        e = ei.value
        assert "proxy" in str(e).lower() and f"{scheme.upper()}_PROXY" in str(e) and e.kind is None
        assert PROXY_PASSWORD not in str(e)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_429_for_an_exhausted_quota_is_fatal_not_a_rate_limit():
    """OpenAI answers 429 ``insufficient_quota`` when the account is out of credit: waiting and retrying cannot
    help, so it must not be retried as a rate limit."""
    from support.cassette_server import CassetteServer

    body = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    interaction = [
        {
            "request": {"method": "POST", "uri": "http://127.0.0.1/v1/chat/completions"},
            "response": {"status": {"code": 429}, "parsed_body": body},
        }
    ]
    for stream in (False, True):
        with CassetteServer(interaction) as server:
            with pytest.raises(ProviderError) as ei:
                await OpenAIInvoker().acall(
                    ask(), "openai/m", {"api_base": server.url + "/v1", "api_key": "k", "stream": stream}
                )
        assert ei.value.status == 429 and ei.value.kind is None and "quota" in str(ei.value)


def test_a_429_for_an_exhausted_quota_is_fatal_through_litellm_too():
    pytest.importorskip("litellm", reason="LiteLLM is an optional extra: pip install 'lllm[litellm]'")
    from support.cassette_server import CassetteServer

    from lllm.core.aio import run_sync
    from lllm.invokers.litellm import LiteLLMInvoker

    body = {
        "error": {
            "message": "You exceeded your current quota.",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    interaction = [
        {
            "request": {"method": "POST", "uri": "http://127.0.0.1/v1/chat/completions"},
            "response": {"status": {"code": 429}, "parsed_body": body},
        }
    ]
    with CassetteServer(interaction) as server:
        with pytest.raises(ProviderError) as ei:  # on LLLM's loop, as LiteLLM needs (see test_litellm_invoker)
            run_sync(LiteLLMInvoker().acall(ask(), "openai/gpt-4o", {"api_base": server.url + "/v1", "api_key": "k"}))
    assert ei.value.status == 429 and ei.value.kind is None and "quota" in str(ei.value)


async def test_groqs_498_flex_capacity_exceeded_is_transient():
    """Groq answers 498 ``capacity_exceeded`` when its flex tier is full and documents it as retryable."""
    from support.cassette_server import CassetteServer

    body = {"error": {"message": "Flex tier capacity exceeded. Try again later.", "type": "capacity_exceeded"}}
    interaction = [
        {
            "request": {"method": "POST", "uri": "http://127.0.0.1/openai/v1/chat/completions"},
            "response": {"status": {"code": 498}, "parsed_body": body},
        }
    ]
    with CassetteServer(interaction) as server:
        with pytest.raises(ProviderError) as ei:
            await OpenAIInvoker().acall(
                ask(), "groq/llama-3.3-70b-versatile", {"api_base": server.url + "/openai/v1", "api_key": "gsk-k"}
            )
    assert ei.value.status == 498 and ei.value.kind == "transient" and "capacity" in str(ei.value)


@pytest.mark.parametrize("model", ["hosted_vllm/m", "anthropic/claude-3-5-haiku-latest"])
def test_litellm_refuses_an_api_base_with_userinfo_for_every_provider(model):
    """LiteLLM's client fails such a call as a server error (500, retried in vain) for any provider, not only
    the OpenAI ones: it is refused before sending, saying why and what to do."""
    pytest.importorskip("litellm", reason="LiteLLM is an optional extra: pip install 'lllm[litellm]'")
    from support.cassette_server import CassetteServer

    from lllm.core.aio import run_sync
    from lllm.errors import ConfigError
    from lllm.invokers.litellm import LiteLLMInvoker

    with CassetteServer([]) as server:
        base = server.url.replace("http://", f"http://s7user:{PROXY_PASSWORD}@")
        with pytest.raises(ConfigError) as ei:
            run_sync(LiteLLMInvoker().acall(ask(), model, {"api_base": base, "api_key": "k", "timeout": 5}))
        assert server.requests == []
    assert "user:password@" in str(ei.value) and "invoker: auto" in str(ei.value)
    assert PROXY_PASSWORD not in str(ei.value)


@pytest.mark.parametrize(
    "model, args, culprit",
    [
        ("openai/m", {"api_key": "sk-s7key0123456789\n"}, "API key"),
        ("anthropic/claude-x", {"api_key": "sk-ant-s7key0123456789\n"}, "API key"),
        ("openai/m", {"api_key": "k", "extra_headers": {"X-Team": "a\r\nX-Evil: 1"}}, "'X-Team'"),
    ],
)
async def test_a_header_value_with_a_line_break_names_its_setting(model, args, culprit):
    """A key read from a file keeps its newline: aiohttp refuses it with "Potential header injection attack",
    naming nothing. The error names the setting (never its value) and says what to fix, before any request."""
    from support.cassette_server import CassetteServer

    from lllm.errors import ConfigError
    from lllm.invokers.anthropic import AnthropicInvoker

    inv = AnthropicInvoker() if model.startswith("anthropic/") else OpenAIInvoker()
    with CassetteServer([]) as server:
        base = server.url if model.startswith("anthropic/") else server.url + "/v1"
        with pytest.raises(ConfigError) as ei:
            await inv.acall(ask(), model, {"api_base": base, **args})
        assert server.requests == []
    assert culprit in str(ei.value) and "line break" in str(ei.value) and "s7key" not in str(ei.value)


@pytest.mark.parametrize("stream", [False, True])
async def test_an_infinite_timeout_is_refused_like_a_disabled_one(fake, stream):
    """``timeout=float("inf")`` reads as "no timeout" (an unbounded wait); aiohttp fails it with a bare
    OverflowError. It is refused as a ConfigError naming model_args['timeout'], as 0 and negatives are."""
    from lllm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model_args\['timeout'\]"):
        await OpenAIInvoker().acall(
            ask(), "openai/m", {"api_base": fake(), "api_key": "k", "timeout": float("inf"), "stream": stream}
        )


@pytest.mark.parametrize(
    "status, header, kind", [(500, "false", None), (409, "false", None), (400, "true", "transient")]
)
async def test_the_providers_x_should_retry_header_decides_the_retry_class(status, header, kind):
    """OpenAI and Anthropic say whether a failed request is worth retrying in ``x-should-retry`` (their SDKs obey
    it): a 5xx it marks "false" is not retried in vain, an error it marks "true" is retried."""
    from support.cassette_server import CassetteServer

    interaction = [
        {
            "request": {"method": "POST", "uri": "http://127.0.0.1/v1/chat/completions"},
            "response": {
                "status": {"code": status},
                "headers": {"x-should-retry": [header]},
                "parsed_body": {"error": {"message": "said the server", "type": "x"}},
            },
        }
    ]
    with CassetteServer(interaction) as server:
        with pytest.raises(ProviderError) as ei:
            await OpenAIInvoker().acall(ask(), "openai/m", {"api_base": server.url + "/v1", "api_key": "k"})
    assert ei.value.status == status and ei.value.kind == kind


@pytest.mark.parametrize("model, path", [("openai/m", "/v1/chat/completions"), ("anthropic/m", "/v1/messages")])
async def test_a_stream_of_only_keep_alives_is_stalled_after_the_read_timeout(model, path):
    """A server (or proxy) that sends keep-alive comments or ping events forever and never any data resets
    the per-read timeout each time: without a bound on time without data the call would never end."""
    from lllm.invokers.anthropic import AnthropicInvoker

    stop = asyncio.Event()

    async def pings(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        ping = b'event: ping\ndata: {"type": "ping"}\n\n' if "messages" in path else b": keep-alive\n\n"
        while not stop.is_set():
            await resp.write(ping)
            await asyncio.sleep(0.05)
        return resp

    runner, url = await _server([("POST", path, pings)])
    inv = AnthropicInvoker() if model.startswith("anthropic/") else OpenAIInvoker()
    base = url if model.startswith("anthropic/") else url + "/v1"
    try:
        with pytest.raises(ProviderError) as ei:
            await asyncio.wait_for(
                inv.acall(ask(), model, {"api_base": base, "api_key": "k", "timeout": 0.5, "stream": True}), 30
            )
    finally:
        stop.set()
        await runner.cleanup()
    assert ei.value.kind == "transient"
    assert "stalled" in str(ei.value) and "model_args['timeout']" in str(ei.value)
