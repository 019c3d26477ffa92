"""LLLM's HTTP/1.1 client (``lllm.invokers.h1``) over real sockets: servers written at the byte level, so each
test controls exactly what the client receives (keep-alive, framing, a connection closed at the wrong moment)."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import warnings
from typing import Any, Awaitable, Callable, List

import pytest

from lllm.errors import ConfigError, ProviderError
from lllm.invokers import h1, http

BODY = json.dumps({"model": "m", "messages": []}).encode()
HEADERS = {"Content-Type": "application/json"}

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A TCP server on 127.0.0.1 running ``handler`` per connection; it counts connections and keeps requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.connections, self.requests, self.open_now, self.most_open = handler, 0, [], 0, 0
        self.writers: List[asyncio.StreamWriter] = []
        self.context: Any = None  # an ssl.SSLContext: TLSServer

    async def __aenter__(self) -> "Server":
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self.open_now += 1
            self.writers.append(writer)
            self.most_open = max(self.most_open, self.open_now)
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            finally:
                self.open_now -= 1
                writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=self.context)
        host = "localhost" if self.context else "127.0.0.1"  # the TLS certificate names localhost
        scheme = "https" if self.context else "http"
        self.url = f"{scheme}://{host}:{self.server.sockets[0].getsockname()[1]}/v1/chat/completions"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for w in self.writers:  # a keep-alive handler never ends by itself; Python 3.12+ waits for it to close
            w.close()
        await self.server.wait_closed()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body


def answer(body: bytes = b'{"ok": true}', *extra: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def keep_alive(reply: Callable[[int], bytes], srv_box: List[Server]) -> Handler:
    """A handler answering every request on a connection with ``reply(n)`` (n counts requests overall)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await srv_box[0].read_request(reader)
            writer.write(reply(len(srv_box[0].requests)))
            await writer.drain()

    return handle


def pool() -> h1.Pool:
    return http.get_pool()


async def test_sequential_requests_share_one_keep_alive_connection():
    box: List[Server] = []
    async with Server(keep_alive(lambda n: answer(json.dumps({"n": n}).encode()), box)) as srv:
        box.append(srv)
        got = [json.loads((await pool().post(srv.url, HEADERS, BODY, 5)).body)["n"] for _ in range(3)]
        assert got == [1, 2, 3] and srv.connections == 1
        assert (
            pool().in_use == 0
            and len(pool().idle[("http", "127.0.0.1", int(srv.url.split(":")[2].split("/")[0]))]) == 1
        )


async def test_the_request_is_framed_as_http_1_1():
    box: List[Server] = []
    async with Server(keep_alive(lambda n: answer(), box)) as srv:
        box.append(srv)
        url = srv.url.replace("http://", "http://us%40er:p%3Ass@") + "?x=1 2"
        await pool().post(url, {"Content-Type": "application/json", "X-Extra": "yes"}, BODY, 5)
        raw = srv.requests[0]
        head, body = raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /v1/chat/completions?x=1%202 HTTP/1.1"
        port = srv.url.split(":")[2].split("/")[0]
        assert f"Host: 127.0.0.1:{port}" in lines and "User-Agent: lllm" in lines and "X-Extra: yes" in lines
        assert "Accept-Encoding: identity" in lines and f"Content-Length: {len(BODY)}" in lines and body == BODY
        assert "Authorization: Basic dXNAZXI6cDpzcw==" in lines  # the URL's us@er:p:ss, decoded, as Basic auth


async def test_a_pooled_connection_the_server_closed_while_idle_is_not_used():
    """The server answers, then closes the connection without saying so: the next request, sent on the pooled
    connection (or finding it gone), is sent again on a new one and succeeds."""
    box: List[Server] = []

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await box[0].read_request(reader)
        writer.write(answer(json.dumps({"n": len(box[0].requests)}).encode()))
        await writer.drain()

    async with Server(answer_once) as srv:
        box.append(srv)
        assert json.loads((await pool().post(srv.url, HEADERS, BODY, 5)).body) == {"n": 1}
        assert json.loads((await pool().post(srv.url, HEADERS, BODY, 5)).body) == {"n": 2}
        assert srv.connections == 2 and pool().in_use == 0


async def test_a_request_the_server_drops_on_a_reused_connection_is_sent_again_on_a_new_one():
    """The race a keep-alive timeout makes: the server closes a pooled connection as the next request arrives on
    it, answering nothing. Nothing of an answer came back, so the request is sent once more, on a new connection."""
    box: List[Server] = []

    async def one_answer_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await box[0].read_request(reader)
        writer.write(answer(json.dumps({"n": len(box[0].requests)}).encode()))
        await writer.drain()
        await box[0].read_request(reader)  # the next request on this connection is read and dropped

    async with Server(one_answer_per_connection) as srv:
        box.append(srv)
        assert json.loads((await pool().post(srv.url, HEADERS, BODY, 5)).body) == {"n": 1}
        assert json.loads((await pool().post(srv.url, HEADERS, BODY, 5)).body) == {"n": 3}
        assert srv.connections == 2 and len(srv.requests) == 3 and pool().in_use == 0


async def test_a_connection_closed_before_the_answer_is_a_transient_error_and_is_not_resent():
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial')  # then closes

    async with Server(hang_up) as srv:
        with pytest.raises(ProviderError) as ei:
            await http.post_json(srv.url, HEADERS, BODY, 5, provider="openai")
        assert ei.value.kind == "transient" and "closed the connection before its answer ended" in str(ei.value)
        assert srv.connections == 1  # an answer had begun: the POST is not sent again


@pytest.mark.parametrize(
    "wire, expected",
    [
        (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n', {"a": 1}),
        (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"until": "close"}', {"until": "close"}),
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + answer(b'{"after": "hints"}'),
            {"after": "hints"},
        ),
        (answer(gzip.compress(b'{"zipped": 1}'), "Content-Encoding: gzip"), {"zipped": 1}),
    ],
    ids=["chunked", "until-close", "informational-first", "gzip-though-not-asked"],
)
async def test_answers_framed_every_way_http_1_1_allows_are_read(wire, expected):
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(wire)
        await writer.drain()

    async with Server(reply) as srv:
        status, headers, data = await http.post_json(srv.url, HEADERS, BODY, 5)
        assert status == 200 and data == expected


async def test_a_malformed_answer_is_a_transient_error_naming_it():
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with Server(garbage) as srv:
        with pytest.raises(ProviderError) as ei:
            await http.post_json(srv.url, HEADERS, BODY, 5, provider="openai")
        assert ei.value.kind == "transient" and "not valid HTTP/1.1" in str(ei.value)
        assert pool().in_use == 0 and not any(pool().idle.values())


async def test_an_answer_larger_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(h1, "MAX_BODY", 1000)
    box: List[Server] = []
    async with Server(keep_alive(lambda n: answer(b'"' + b"x" * 5000 + b'"'), box)) as srv:
        box.append(srv)
        with pytest.raises(ProviderError, match="larger than"):
            await http.post_json(srv.url, HEADERS, BODY, 5, provider="openai")


async def test_a_silent_server_times_out_within_the_timeout():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async with Server(silent) as srv:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(ProviderError, match="timed out after 0.3s") as ei:
            await http.post_json(srv.url, HEADERS, BODY, 0.3, provider="openai")
        assert ei.value.kind == "transient" and loop.time() - t0 < 2
        assert pool().in_use == 0 and not any(pool().idle.values())


async def test_a_cancelled_request_frees_its_connection():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async with Server(silent) as srv:
        task = asyncio.ensure_future(http.post_json(srv.url, HEADERS, BODY, 5))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool().in_use == 0 and not any(pool().idle.values())


async def test_no_more_connections_than_the_limit_are_open_at_once(monkeypatch):
    monkeypatch.setattr(h1, "POOL_LIMIT", 2)

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(len(BODY))
            await asyncio.sleep(0.05)
            writer.write(answer())
            await writer.drain()

    async with Server(slow) as srv:
        results = await asyncio.gather(*(http.post_json(srv.url, HEADERS, BODY, 5) for _ in range(6)))
        assert [r[2] for r in results] == [{"ok": True}] * 6
        assert srv.most_open <= 2 and pool().in_use == 0


async def test_a_freed_slot_is_passed_on_when_the_waiter_it_went_to_is_cancelled(monkeypatch):
    """The pool is full and two requests wait. A slot frees and goes to the first, which is cancelled before it
    runs: the second gets the slot at once, not at its deadline."""
    monkeypatch.setattr(h1, "POOL_LIMIT", 1)
    box: List[Server] = []
    async with Server(keep_alive(lambda n: answer(), box)) as srv:
        box.append(srv)
        p = pool()
        p.in_use = 1  # the one slot is taken
        first = asyncio.ensure_future(http.post_json(srv.url, HEADERS, BODY, 5))
        second = asyncio.ensure_future(http.post_json(srv.url, HEADERS, BODY, 5))
        await asyncio.sleep(0.01)  # both wait for the slot
        p.release(h1._Conn(h1.target(srv.url).key, p.loop), False)  # the slot frees, woken: the first waiter
        first.cancel()  # ... which is cancelled before it could take it
        t0 = asyncio.get_running_loop().time()
        assert (await second)[2] == {"ok": True}
        assert asyncio.get_running_loop().time() - t0 < 1  # not left waiting until its 5 s deadline
        with pytest.raises(asyncio.CancelledError):
            await first
        assert p.in_use == 0


async def test_a_host_name_is_looked_up_once_for_connections_opened_together(monkeypatch):
    loop = asyncio.get_running_loop()
    lookups = []
    real = loop.getaddrinfo

    async def counting(host, port, **kw):
        lookups.append(host)
        return await real(host, port, **kw)

    monkeypatch.setattr(loop, "getaddrinfo", counting)

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.05)
        writer.write(answer())
        await writer.drain()

    async with Server(slow) as srv:
        url = srv.url.replace("127.0.0.1", "localhost")
        results = await asyncio.gather(*(http.post_json(url, HEADERS, BODY, 5) for _ in range(5)))
        assert len(results) == 5 and lookups == ["localhost"]


async def test_a_redirect_to_another_origin_is_not_followed():
    box: List[Server] = []

    async def elsewhere(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await box[0].read_request(reader)
        writer.write(answer(b"", "Location: http://127.0.0.2:9/v1/chat/completions", status="307 Temporary Redirect"))
        await writer.drain()

    async with Server(elsewhere) as srv:
        box.append(srv)
        with pytest.raises(ProviderError) as ei:
            await http.post_json(srv.url, {"Authorization": "Bearer sk-secret"}, BODY, 5, provider="openai")
        assert "127.0.0.2:9" in str(ei.value) and "api_base" in str(ei.value) and ei.value.kind is None
        assert len(srv.requests) == 1


async def test_a_header_name_that_is_not_a_token_is_refused_before_sending():
    with pytest.raises(ConfigError, match="header name 'X-Bad: 1\\\\r\\\\nInjected'"):
        await http.post_json("http://127.0.0.1:9/v1", {"X-Bad: 1\r\nInjected": "v"}, BODY, 5, provider="openai")


@pytest.mark.parametrize("url", ["ftp://host/v1", "http:///v1", "http://host:99999/v1"])
async def test_an_unusable_url_is_a_fatal_error_naming_it(url):
    with pytest.raises(ProviderError, match="request URL is invalid") as ei:
        await http.post_json(url, HEADERS, BODY, 5, provider="openai")
    assert ei.value.kind is None


async def test_a_streams_connection_is_pooled_once_its_whole_answer_arrived_read_or_not():
    box: List[Server] = []
    events = b"".join(b'data: {"i": %d}\n\n' % i for i in range(3)) + b"data: [DONE]\n\n"

    def sse(n: int) -> bytes:
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        return head.encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(events), events)

    async with Server(keep_alive(sse, box)) as srv:
        box.append(srv)
        got = [d async for _, d in http.post_sse(srv.url, HEADERS, BODY, 5)]
        assert got == [{"i": 0}, {"i": 1}, {"i": 2}]
        stream = await pool().stream(srv.url, HEADERS, BODY, 5)
        while not stream.conn.done:  # the whole answer arrives; none of it is read
            await asyncio.sleep(0.01)
        stream.close()
        stream.close()  # a second close changes nothing
        assert pool().in_use == 0 and srv.connections == 1
        got = [d async for _, d in http.post_sse(srv.url, HEADERS, BODY, 5)]
        assert len(got) == 3 and srv.connections == 1


async def test_a_stream_that_stops_sending_times_out_per_read():
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"a\r\ndata: {}\n\n\r\n")  # one event in one 10-byte chunk, then nothing
        await writer.drain()
        await asyncio.sleep(10)

    async with Server(stall) as srv:
        got = []
        with pytest.raises(ProviderError, match="stream was cut") as ei:
            async for _, d in http.post_sse(srv.url, HEADERS, BODY, 0.3, provider="openai"):
                got.append(d)
        assert got == [{}] and ei.value.kind == "transient"
        assert pool().in_use == 0


def test_asyncio_run_closes_the_pools_connections():
    """``asyncio.run`` ends its loop: the pool's keep-alive sockets are closed then (no ResourceWarning)."""
    import gc

    async def one_request() -> h1.Pool:
        box: List[Server] = []
        async with Server(keep_alive(lambda n: answer(), box)) as srv:
            box.append(srv)
            await http.post_json(srv.url, HEADERS, BODY, 5)
            return http.get_pool()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = asyncio.run(one_request())
        gc.collect()
    assert p.closed and not p.idle and p not in http._pools.values()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [str(w.message) for w in caught]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_through_an_http_proxy_goes_over_aiohttp(monkeypatch, stream):
    """HTTP_PROXY set: the request goes to the proxy in absolute form (aiohttp's path), not to the host."""
    box: List[Server] = []
    sse = b'data: {"via": "proxy"}\n\ndata: [DONE]\n\n'

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await box[0].read_request(reader)
        if stream:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s" % (len(sse), sse)
            )
        else:
            writer.write(answer(b'{"via": "proxy"}'))
        await writer.drain()

    async with Server(proxy) as srv:
        box.append(srv)
        monkeypatch.setenv("HTTP_PROXY", srv.url.split("/v1")[0])
        monkeypatch.setenv("NO_PROXY", "")
        http._proxies.clear()
        try:
            target = "http://api.example.invalid/v1/chat/completions"  # never resolved: the proxy is asked for it
            if stream:
                got = [d async for _, d in http.post_sse(target, HEADERS, BODY, 5)]
            else:
                got = [(await http.post_json(target, HEADERS, BODY, 5))[2]]
        finally:
            http._proxies.clear()
        assert got == [{"via": "proxy"}]
        assert srv.requests[0].startswith(b"POST http://api.example.invalid/v1/chat/completions HTTP/1.1\r\n")
        assert not any(pool().idle.values())  # the lean pool was not used


class TLSServer(Server):
    """``Server`` behind TLS, with a certificate for 127.0.0.1 and localhost from a throwaway authority."""

    def __init__(self, handler: Handler, ca: Any) -> None:
        super().__init__(handler)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(self.context)


@pytest.fixture
def ca():
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


async def test_https_verifies_the_servers_certificate_and_reuses_the_connection(ca, monkeypatch):
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    monkeypatch.setattr(h1, "_tls", trusted)
    box: List[Server] = []
    async with TLSServer(keep_alive(lambda n: answer(json.dumps({"n": n}).encode()), box), ca) as srv:
        box.append(srv)
        got = [(await http.post_json(srv.url, HEADERS, BODY, 5))[2] for _ in range(2)]
        assert got == [{"n": 1}, {"n": 2}] and srv.connections == 1
        assert b"Host: localhost:" in srv.requests[0]


async def test_https_to_a_server_with_an_untrusted_certificate_fails_naming_the_certificate(ca, monkeypatch):
    monkeypatch.setattr(h1, "_tls", ssl.create_default_context())  # the system's authorities, not the test's
    box: List[Server] = []
    async with TLSServer(keep_alive(lambda n: answer(), box), ca) as srv:
        box.append(srv)
        with pytest.raises(ProviderError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await http.post_json(srv.url, HEADERS, BODY, 5, provider="openai")
        assert srv.requests == [] and pool().in_use == 0


async def test_a_streams_connection_is_reused_once_its_unread_end_arrives(monkeypatch):
    """A stream ends at its last event; the chunked body's terminator comes a moment later (a separate write):
    the connection drains it in the background and goes back to the pool. One that never ends is closed."""
    monkeypatch.setattr(h1, "DRAIN_S", 0.3)
    box: List[Server] = []
    events = b'data: {"i": 0}\n\ndata: [DONE]\n\n'

    async def late_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await box[0].read_request(reader)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            writer.write(head + b"%x\r\n%s\r\n" % (len(events), events))
            await writer.drain()
            await asyncio.sleep(0.05 if b"endless" not in body else 10)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async with Server(late_end) as srv:
        box.append(srv)
        for _ in range(2):
            assert [d async for _, d in http.post_sse(srv.url, HEADERS, BODY, 5)] == [{"i": 0}]
            assert pool().in_use == 1  # draining
            await asyncio.sleep(0.15)
            assert pool().in_use == 0 and sum(map(len, pool().idle.values())) == 1
        assert srv.connections == 1
        endless = b'{"endless": true}'
        assert [d async for _, d in http.post_sse(srv.url, HEADERS, endless, 5)] == [{"i": 0}]
        await asyncio.sleep(0.5)
        assert pool().in_use == 0 and not any(pool().idle.values())  # given up after DRAIN_S, closed


@pytest.mark.parametrize("later", [0.0, 0.02], ids=["with-the-answer", "while-idle"])
async def test_an_answer_sent_unasked_is_not_taken_for_the_next_requests(later):
    """Some servers send a 408 on an idle keep-alive connection before closing it: that connection is not
    reused (its 408 would be read as the next request's answer), nor does it spoil the answer before it."""
    box: List[Server] = []

    async def nag(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await box[0].read_request(reader)
        writer.write(answer(b'{"n": %d}' % len(box[0].requests)))
        if later:
            await writer.drain()
            await asyncio.sleep(later)
        writer.write(answer(b"", "Connection: close", status="408 Request Timeout"))  # unasked
        await writer.drain()
        await asyncio.sleep(1)  # and the connection stays open a while

    async with Server(nag) as srv:
        box.append(srv)
        assert (await http.post_json(srv.url, HEADERS, BODY, 5))[2] == {"n": 1}
        await asyncio.sleep(0.1)
        assert (await http.post_json(srv.url, HEADERS, BODY, 5))[2] == {"n": 2}
        assert srv.connections == 2


async def test_a_request_cancelled_at_any_moment_ends_cancelled():
    """Cancelled while connecting, sending or waiting: the request ends cancelled, never with an answer
    (``asyncio.wait_for`` before Python 3.12 swallowed a cancellation that met the connection's completion)."""
    import random

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.02)
        writer.write(answer())
        await writer.drain()

    rng, lost = random.Random(3), 0
    async with Server(slow) as srv:
        for _ in range(300):
            await http.aclose_session()  # a new connection each time, so some cancellations land in connect
            task = asyncio.ensure_future(http.post_json(srv.url, HEADERS, BODY, 5))
            for _ in range(rng.randrange(0, 6)):
                await asyncio.sleep(0)
            if task.cancel():
                try:
                    await task
                    lost += 1
                except asyncio.CancelledError:
                    pass
        assert lost == 0 and pool().in_use == 0
        # a connection cancelled mid-connect may still wait in the server's accept queue: let it be accepted and
        # ended, or closing the server leaves it unclosed (Python 3.12+ would wait for it)
        await asyncio.sleep(0.05)
