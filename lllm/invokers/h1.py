"""The lean HTTP/1.1 client of the native invokers: a POST of JSON bytes and its whole or streamed answer,
over keep-alive connections pooled per event loop.

It does what a provider's API needs and no more: no cookies, no proxies (``lllm.invokers.http`` sends a
proxied request through aiohttp), redirects followed only when they keep the POST on the same origin
(307/308), an uncompressed answer asked for (a compressed one is still read). ``httptools`` (llhttp)
parses the answers. ``lllm.invokers.http`` owns one ``Pool`` per loop and maps its errors:
``InvalidURL``, ``TimeoutError``, and ``OSError`` (``BadAnswer`` for a malformed or oversized answer)."""

from __future__ import annotations

import asyncio
import base64
import collections
import socket
import ssl
import zlib
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import quote, unquote, urljoin, urlsplit

import httptools

from lllm.core.aio import timeout_at

POOL_LIMIT = 1000  # connections in use at once per loop (like httpx's default max_connections)
KEEPALIVE_S = 30.0  # an idle connection older than this is closed, not reused
DNS_TTL_S = 300.0
MAX_BODY = 256 * 2**20  # no provider answers with more; a server that does is refused, not buffered
MAX_REDIRECTS = 5
DRAIN_S = 2.0  # how long a stream's unread end may take to arrive for its connection to be reused
_PAUSE_AT = 1 << 20  # a stream's unread bytes at which reading from its socket pauses

_targets: Dict[str, "Target"] = {}
_tls: Optional[ssl.SSLContext] = None


class InvalidURL(ValueError):
    """A URL this client cannot send to (not http or https, no host, a bad port)."""


class BadAnswer(ConnectionError):
    """The server's answer is not HTTP/1.1 this client reads, or is larger than ``MAX_BODY``."""


class Headers(Mapping[str, str]):
    """An answer's headers by name, in any case (a repeated header's values joined with ``", "``)."""

    __slots__ = ("_by_name",)

    def __init__(self, raw: List[Tuple[bytes, bytes]]) -> None:
        by_name: Dict[str, str] = {}
        for name, value in raw:
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            by_name[key] = f"{by_name[key]}, {text}" if key in by_name else text
        self._by_name = by_name

    def __getitem__(self, name: str) -> str:
        return self._by_name[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


class Target(NamedTuple):
    """Where a URL's requests go, and the first lines of each request (built once per URL)."""

    key: Tuple[str, str, int]  # (scheme, host, port): connections are pooled by it
    head: bytes  # request line, Host, User-Agent, Accept, and the URL's user:password@ as Basic auth


def target(url: str) -> Target:
    """``url``'s Target (cached; a bad URL raises ``InvalidURL``)."""
    t = _targets.get(url)
    if t is None:
        t = _target(url)
        if len(_targets) > 1024:
            _targets.clear()
        _targets[url] = t
    return t


def _target(url: str) -> Target:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise InvalidURL(str(e)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise InvalidURL("not an http(s) URL with a host")
    tls = scheme == "https"
    default = 443 if tls else 80
    port = port or default
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    shown = f"[{host}]" if ":" in host else host
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~") + (
        "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?") if parts.query else ""
    )
    lines = [f"POST {path} HTTP/1.1", f"Host: {shown if port == default else f'{shown}:{port}'}"]
    lines += ["User-Agent: lllm", "Accept: */*", "Accept-Encoding: identity"]
    if parts.username is not None:  # as browsers and aiohttp do: the URL's credential as Basic auth
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        lines.append(f"Authorization: Basic {base64.b64encode(pair).decode('ascii')}")
    return Target((scheme, host, port), ("\r\n".join(lines) + "\r\n").encode("utf-8"))


def request_bytes(t: Target, headers: Mapping[str, str], body: bytes) -> bytes:
    """The whole request: ``t``'s lines, ``headers`` (checked for line breaks by the caller), the body."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return b"".join((t.head, extra.encode("utf-8"), b"Content-Length: %d\r\n\r\n" % len(body), body))


def tls_context() -> ssl.SSLContext:
    """The system's default TLS context (certificates verified), made once."""
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context()
    return _tls


# ---------------------------------------------------------------------------------------------
# One connection
# ---------------------------------------------------------------------------------------------


class _Conn(asyncio.Protocol):
    """A keep-alive connection and the answer being read on it (``httptools`` calls the ``on_*`` methods)."""

    __slots__ = (
        "key",
        "loop",
        "transport",
        "parser",
        "waiter",
        "streaming",
        "status",
        "raw_headers",
        "body",
        "buffered",
        "got",
        "done",
        "keep",
        "lost",
        "error",
        "paused",
        "idle_at",
        "on_done",
    )

    def __init__(self, key: Tuple[str, str, int], loop: asyncio.AbstractEventLoop) -> None:
        self.key, self.loop = key, loop
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: Optional[asyncio.Future[None]] = None
        self.idle_at = 0.0
        self.lost = False
        self.on_done: Optional[Callable[[], None]] = None  # set while the end of a stream left unread drains
        self.reset()

    def reset(self) -> None:
        """Ready for the next request."""
        self.streaming = False
        self.status = 0
        self.raw_headers: List[Tuple[bytes, bytes]] = []
        self.body: List[bytes] = []
        self.buffered = 0  # bytes of the body not yet taken
        self.got = self.done = self.keep = self.paused = False
        self.error: Optional[BaseException] = None

    # -- asyncio's side
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadAnswer("the server switched protocols"))
        except httptools.HttpParserError as e:
            self._fail(self.error or BadAnswer(f"the answer is not valid HTTP/1.1 ({e})"))

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.lost = True
        if self.on_done is not None:
            self.on_done()
        if not self.done and self.error is None:
            if self.status >= 200 and _until_close(self.raw_headers):  # a body that ends with the connection
                self.on_message_complete()
            else:
                self._fail(exc or ConnectionResetError("the server closed the connection before its answer ended"))

    # -- httptools' side
    def on_message_begin(self) -> None:
        if self.done:  # a second answer to one request: the connection is out of step, never reused
            self.error = BadAnswer("the server sent an answer no request asked for")
            raise self.error  # stops the parser before it overwrites the answer already read

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.streaming and self.status >= 200:
            self._wake()

    def on_body(self, chunk: bytes) -> None:
        self.buffered += len(chunk)
        if self.buffered > MAX_BODY:
            self.error = BadAnswer(f"the answer is larger than {MAX_BODY >> 20} MiB")
            raise self.error  # stops the parser; data_received fails the request
        self.body.append(chunk)
        if self.streaming:
            if self.buffered > _PAUSE_AT and not self.paused:  # the reader is behind: stop reading until it catches up
                self.paused = True
                self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        if self.status < 200:  # an informational answer (103 Early Hints): the real one follows
            self.raw_headers = []
            return
        self.done = True
        self.keep = self.parser.should_keep_alive()  # asked now: the parser forgets once the message ends
        self._wake()
        if self.on_done is not None:
            self.on_done()

    # -- the request's side
    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            if self.error is not None:
                w.set_exception(self.error)
            else:
                w.set_result(None)

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self._wake()
        self.abort()

    def _expire(self) -> None:
        self._fail(TimeoutError())

    async def wait(self, deadline: float) -> None:
        """Until the parser has more for the request (or ``deadline``, a ``loop.time()``: TimeoutError)."""
        if self.error is not None:
            raise self.error
        self.waiter = self.loop.create_future()
        timer = self.loop.call_at(deadline, self._expire)
        try:
            await self.waiter
        finally:
            timer.cancel()
            self.waiter = None

    def take_body(self) -> bytes:
        data = b"".join(self.body)
        self.body = []
        self.buffered = 0
        if self.paused and not self.lost:
            self.paused = False
            self.transport.resume_reading()
        return data

    def reusable(self) -> bool:
        return self.done and self.keep and not self.lost and self.error is None

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            try:
                self.transport.abort()
            except RuntimeError:  # its loop is closed: the socket goes with the transport
                pass


def _until_close(raw: List[Tuple[bytes, bytes]]) -> bool:
    """Whether an answer's body is delimited by the end of the connection (no length, not chunked)."""
    names = {n.lower() for n, _ in raw}
    return b"content-length" not in names and b"transfer-encoding" not in names


def _decoder(headers: Headers) -> Any:
    """A decompressor for a compressed answer (sent though not asked for), else ``None``."""
    coding = headers.get("content-encoding", "identity").strip().lower()
    if coding in ("", "identity"):
        return None
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompressobj()
    raise BadAnswer(f"the answer is compressed as {coding!r}, which this client does not read")


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------


class Response(NamedTuple):
    """A whole answer."""

    status: int
    headers: Headers
    body: bytes
    url: str  # where it came from (after same-origin redirects)


class Stream:
    """An answer whose body is read as it arrives; ``close`` it (its connection is reused if read to its end)."""

    def __init__(self, pool: "Pool", conn: _Conn, url: str, read_timeout_s: float) -> None:
        self.pool, self.conn, self.url, self.read_timeout_s = pool, conn, url, read_timeout_s
        self.status = conn.status
        self.headers = Headers(conn.raw_headers)
        self._decode = _decoder(self.headers)
        self._closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; a read that waits longer than the read timeout raises TimeoutError."""
        conn = self.conn
        while True:
            if conn.body:
                data = conn.take_body()
                yield self._decode.decompress(data) if self._decode is not None else data
            elif conn.done:
                if self._decode is not None:
                    yield self._decode.flush()
                return
            else:
                await conn.wait(conn.loop.time() + self.read_timeout_s)

    async def read(self) -> bytes:
        """The rest of the body."""
        return b"".join([c async for c in self.chunks()])

    def close(self) -> None:
        """Give the connection back: reused if the answer was read to its end; if only its last bytes are
        missing (a stream ends at its last event, before the chunked body's terminator arrived), once they
        come within ``DRAIN_S``; else closed."""
        if self._closed:
            return
        self._closed = True
        conn = self.conn
        conn.streaming = False
        if conn.done or conn.lost or conn.error is not None or conn.paused:  # paused: far from its end
            self.pool.release(conn, conn.reusable())
            return
        conn.body = []
        timer = conn.loop.call_later(DRAIN_S, conn.abort)

        def drained() -> None:
            conn.on_done = None
            timer.cancel()
            conn.body = []
            self.pool.release(conn, conn.reusable())

        conn.on_done = drained


# ---------------------------------------------------------------------------------------------
# The pool
# ---------------------------------------------------------------------------------------------


class Pool:
    """The keep-alive connections of one event loop, at most ``POOL_LIMIT`` of them in use at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.idle: Dict[Tuple[str, str, int], List[_Conn]] = {}
        self.in_use = 0
        self.closed = False
        self._slots: Deque[asyncio.Future[None]] = collections.deque()
        self._dns: Dict[Tuple[str, int], Tuple[float, "asyncio.Future[List[Tuple[int, str]]]"]] = {}

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> Response:
        """POST ``body`` and read the whole answer within ``timeout_s``; same-origin 307/308s are followed."""
        deadline = self.loop.time() + timeout_s
        for _ in range(MAX_REDIRECTS + 1):
            conn = await self._exchange(url, headers, body, deadline, streaming=False)
            status, raw = conn.status, conn.raw_headers
            data = conn.take_body()
            self.release(conn, conn.reusable())
            answer = Response(status, Headers(raw), data, url)
            decode = _decoder(answer.headers)
            if decode is not None:
                answer = answer._replace(body=decode.decompress(data) + decode.flush())
            url, moved = _same_origin_redirect(answer)
            if not moved:
                return answer
        return answer

    async def stream(self, url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> Stream:
        """POST ``body`` and return once the answer's headers arrived (within ``timeout_s``); each later read
        may wait ``timeout_s`` too. Same-origin 307/308s are followed."""
        for _ in range(MAX_REDIRECTS + 1):
            conn = await self._exchange(url, headers, body, self.loop.time() + timeout_s, streaming=True)
            s = Stream(self, conn, url, timeout_s)
            peek = Response(s.status, s.headers, b"", url)
            url, moved = _same_origin_redirect(peek)
            if not moved:
                return s
            s.close()
        return s

    async def _exchange(
        self, url: str, headers: Mapping[str, str], body: bytes, deadline: float, streaming: bool
    ) -> _Conn:
        """Send the request and wait for its answer's headers (streaming) or its whole answer; a reused connection
        the server had closed meanwhile (nothing of an answer arrived) is replaced once."""
        t = target(url)
        data = request_bytes(t, headers, body)
        for attempt in (0, 1):
            conn, reused = await self._acquire(t, deadline)
            conn.streaming = streaming
            try:
                conn.transport.write(data)
                while not (conn.done or (streaming and conn.status >= 200)):
                    await conn.wait(deadline)
                return conn
            except ConnectionError as e:
                self.release(conn, False)
                if attempt or not reused or conn.got or isinstance(e, BadAnswer):
                    raise
            except BaseException:
                self.release(conn, False)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acquire(self, t: Target, deadline: float) -> Tuple[_Conn, bool]:
        if self.closed:
            raise ConnectionError("the HTTP pool of this event loop is closed")
        while self.in_use >= POOL_LIMIT:
            waiter = self.loop.create_future()
            self._slots.append(waiter)
            try:
                async with timeout_at(deadline):
                    await waiter
            except BaseException:  # timed out or cancelled: a slot it was just given goes to the next waiter
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise
        self.in_use += 1
        idle = self.idle.get(t.key)
        while idle:
            conn = idle.pop()
            if not (conn.lost or conn.got) and self.loop.time() - conn.idle_at < KEEPALIVE_S:
                return conn, True  # (``got``: the server spoke unasked, e.g. a 408 before closing an idle one)
            conn.abort()
        try:
            return await self._connect(t, deadline), False
        except BaseException:
            self._free()
            raise

    async def _connect(self, t: Target, deadline: float) -> _Conn:
        scheme, host, port = t.key
        tls = scheme == "https"
        async with timeout_at(deadline):
            addresses = await self._resolve(host, port)
            error: Optional[BaseException] = None
            for family, address in addresses:
                try:
                    _, conn = await self.loop.create_connection(
                        lambda: _Conn(t.key, self.loop),
                        address,
                        port,
                        family=family,
                        ssl=tls_context() if tls else None,
                        server_hostname=host if tls else None,
                    )
                    return conn
                except OSError as e:  # the next address may answer
                    error = e
            raise error or ConnectionError(f"{host} has no address")

    async def _resolve(self, host: str, port: int) -> List[Tuple[int, str]]:
        """``host``'s addresses, looked up once per ``DNS_TTL_S`` (connections opened together share a lookup)."""
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.inet_pton(family, host)
                return [(family, host)]
            except OSError:
                pass
        now = self.loop.time()
        hit = self._dns.get((host, port))
        if hit is None or hit[0] < now or (hit[1].done() and (hit[1].cancelled() or hit[1].exception() is not None)):
            hit = (now + DNS_TTL_S, asyncio.ensure_future(self._lookup(host, port)))
            self._dns[(host, port)] = hit
        return await asyncio.shield(hit[1])

    async def _lookup(self, host: str, port: int) -> List[Tuple[int, str]]:
        infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys((family, str(addr[0])) for family, _, _, _, addr in infos))

    def release(self, conn: _Conn, reuse: bool) -> None:
        """A connection back from a request: pooled if ``reuse``, else closed; its slot freed."""
        self._free()
        if reuse and not self.closed and not conn.lost:
            conn.reset()
            conn.idle_at = self.loop.time()
            self.idle.setdefault(conn.key, []).append(conn)
        else:
            conn.abort()

    def _free(self) -> None:
        self.in_use -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._slots:
            waiter = self._slots.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def close(self) -> None:
        """Close the idle connections; connections in use are closed when released."""
        self.closed = True
        for conns in self.idle.values():
            for conn in conns:
                conn.abort()
        self.idle.clear()
        for _, lookup in self._dns.values():
            lookup.cancel()
        self._dns.clear()


def _same_origin_redirect(answer: Response) -> Tuple[str, bool]:
    """(the URL to POST to next, whether to): a 307/308 to the same scheme, host and port keeps the POST."""
    location = answer.headers.get("location")
    if answer.status not in (307, 308) or not location:
        return answer.url, False
    new = urljoin(answer.url, location)
    try:
        same = target(new).key == target(answer.url).key
    except InvalidURL:
        same = False
    return (new, True) if same else (answer.url, False)


__all__ = [
    "POOL_LIMIT",
    "KEEPALIVE_S",
    "MAX_BODY",
    "InvalidURL",
    "BadAnswer",
    "Headers",
    "Target",
    "target",
    "request_bytes",
    "tls_context",
    "Response",
    "Stream",
    "Pool",
]
