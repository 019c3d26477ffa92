"""The pooled HTTP layer the native invokers share.

Requests go over LLLM's lean HTTP/1.1 client (``lllm.invokers.h1``); a request through an HTTP(S)_PROXY
goes over aiohttp (imported only then). Each event loop has one pool of each, created on first use and
reused by every agent and call on that loop (the sync API runs on one background loop, see
``lllm.core.aio``), and closed when the loop ends. Every request has an explicit timeout. Every failure
becomes a ``lllm.errors.ProviderError`` whose ``kind`` is the retry class (``rate_limit``, ``transient``
or ``None`` = fatal); nothing here retries."""

from __future__ import annotations

import asyncio
import atexit
import json
import math
import re
import threading
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Dict, Mapping, NoReturn, Optional, Tuple, Union

from lllm.errors import ProviderError
from lllm.invokers import h1
from lllm.invokers.base import DEFAULT_TIMEOUT_S
from lllm.secrets import scrub_exception, scrub_text, strip_userinfo

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp
    from aiohttp import ClientSession

POOL_LIMIT = h1.POOL_LIMIT
KEEPALIVE_S = h1.KEEPALIVE_S
TRANSIENT_STATUS = frozenset({408, 409, 498})  # 498: Groq's flex tier at capacity, documented as retryable

_aiohttp: Any = None
_sessions: Dict[asyncio.AbstractEventLoop, "aiohttp.ClientSession"] = {}  # for proxied requests
_pools: Dict[asyncio.AbstractEventLoop, h1.Pool] = {}
_sessions_lock = threading.Lock()
_closers: Dict[asyncio.AbstractEventLoop, Any] = {}  # loop -> its _close_at_loop_end generator
_timeouts: Dict[Tuple[float, bool], Any] = {}
_proxies: Dict[str, Optional[str]] = {}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_dumps_ascii = json.JSONEncoder(separators=(",", ":")).encode


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes for a request body."""
    try:
        return _dumps(obj).encode()
    except UnicodeEncodeError:  # a lone surrogate (a file name or output decoded with surrogateescape):
        return _dumps_ascii(obj).encode()  # \u-escaped, as json.dumps (and the provider SDKs) send it


def _lib() -> Any:
    global _aiohttp
    if _aiohttp is None:
        import aiohttp

        _aiohttp = aiohttp
    return _aiohttp


def get_pool() -> h1.Pool:
    """The running loop's pool of HTTP/1.1 connections, created on first use."""
    loop = asyncio.get_running_loop()
    p = _pools.get(loop)
    if p is None or p.closed:
        with _sessions_lock:
            p = h1.Pool(loop)
            _watch(loop)
            _pools[loop] = p
    return p


def get_session() -> "aiohttp.ClientSession":
    """The running loop's aiohttp session (proxied requests), created on first use."""
    loop = asyncio.get_running_loop()
    s = _sessions.get(loop)
    if s is None or s.closed:
        s = _new_session(loop)
    return s


def prepare(tls: bool = True) -> None:
    """Load now what the first request would: the proxy settings, the TLS context if ``tls``, and aiohttp when
    a proxy is set (a tactic on a native provider calls this when it is built, as an SDK builds its client)."""
    import urllib.request

    if tls:
        h1.tls_context()
    if urllib.request.getproxies().keys() & {"http", "https"}:  # NO_PROXY alone shows as "no"
        _lib()


def _forget(loop: asyncio.AbstractEventLoop) -> None:
    """Drop the pools of a closed loop: its connections are closed as far as a closed loop allows (aiohttp's
    public ``close``, stepped by hand: no loop is left to run it, and on a closed loop it has nothing to wait for)."""
    closer = _closers.pop(loop, None)
    if closer is not None:
        _step(closer.aclose())  # its ``finally`` closes the pools the same way
    _close_pool(loop)
    sess = _sessions.pop(loop, None)
    conn = None if sess is None else sess.connector
    if conn is None or conn.closed:
        return
    _step(conn.close())


def _close_pool(loop: asyncio.AbstractEventLoop) -> None:
    """Drop ``loop``'s HTTP/1.1 pool and close its idle connections (on the loop, or once it is closed)."""
    pool = _pools.pop(loop, None)
    if pool is not None:
        pool.close()


def _step(closing: Any) -> None:
    """Run a closing coroutine by hand as far as it goes without a running loop."""
    try:
        closing.send(None)
    except (StopIteration, RuntimeError):  # finished at once, or it needed a running loop
        pass
    finally:
        closing.close()


async def _close_at_loop_end(loop: asyncio.AbstractEventLoop) -> AsyncIterator[None]:
    """Suspended while ``loop`` runs. Asyncio registers it with the loop, and ``asyncio.run`` closes a loop's
    async generators before the loop itself: that closes the loop's pools, their pooled sockets with them,
    while the loop still runs (a closed loop can only drop them to the garbage collector)."""
    try:
        yield
    finally:
        _closers.pop(loop, None)
        _close_pool(loop)
        sess = _sessions.pop(loop, None)
        if sess is not None and not sess.closed:
            await sess.close()


def _watch(loop: asyncio.AbstractEventLoop) -> None:
    """Start ``loop``'s closer (once per loop; not for the sync API's loop, which lives as long as the process);
    the caller holds ``_sessions_lock``."""
    from lllm.core.aio import in_background_loop

    if not (_sessions or _pools):
        atexit.unregister(_close_all)
        atexit.register(_close_all)
    for old in [lp for lp in {**_closers, **_sessions, **_pools} if lp.is_closed()]:  # loops that are gone
        _forget(old)
    if loop in _closers or in_background_loop():
        return
    closer: Any = _close_at_loop_end(loop)
    try:
        closer.__anext__().send(None)  # runs it to its ``yield``; the first step registers it with the loop
    except StopIteration:
        pass
    _closers[loop] = closer


async def _finish(closer: Any) -> None:
    await closer.aclose()


def _close_all() -> None:
    """At interpreter exit: close the pools of loops that still run (e.g. the sync API's background loop)."""
    for loop in list({**_closers, **_sessions, **_pools}):
        if loop.is_closed() or not loop.is_running():
            _forget(loop)
            continue
        closer, sess, pool = _closers.pop(loop, None), _sessions.pop(loop, None), _pools.pop(loop, None)
        try:
            if pool is not None:
                loop.call_soon_threadsafe(pool.close)
            if closer is not None:
                asyncio.run_coroutine_threadsafe(_finish(closer), loop).result(2)
            if sess is not None and not sess.closed:
                asyncio.run_coroutine_threadsafe(sess.close(), loop).result(2)
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass
    _sessions.clear()
    _pools.clear()


def _new_session(loop: asyncio.AbstractEventLoop) -> "aiohttp.ClientSession":
    """Create ``loop``'s session (only ``loop``'s own thread calls this); the lock keeps threads that
    start sessions on their own loops at the same moment from racing on the shared table."""
    aiohttp = _lib()
    with _sessions_lock:
        conn = aiohttp.TCPConnector(limit=POOL_LIMIT, keepalive_timeout=KEEPALIVE_S, ttl_dns_cache=300)
        s: ClientSession = aiohttp.ClientSession(
            connector=conn, skip_auto_headers=("User-Agent",), headers={"User-Agent": "lllm"}
        )
        _watch(loop)
        _sessions[loop] = s
    return s


async def aclose_session() -> None:
    """Close the running loop's pools (their connections); the next request opens new ones."""
    loop = asyncio.get_running_loop()
    _close_pool(loop)
    s = _sessions.pop(loop, None)
    if s is not None and not s.closed:
        await s.close()


def _seconds(timeout_s: Optional[float]) -> float:
    """``timeout_s`` (``None``: the default) as a positive, finite number of seconds; else a ConfigError."""
    try:
        t = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
    except (TypeError, ValueError):
        t = math.nan  # not a number of seconds (e.g. an SDK's Timeout object): refused below
    if not (t > 0 and math.isfinite(t)):  # 0 (or less) reads as "no timeout" to many clients: it could hang forever
        from lllm.errors import ConfigError

        raise ConfigError(f"model_args['timeout'] must be a positive, finite number of seconds, got {timeout_s!r}")
    return t


def _timeout(timeout_s: Optional[float], stream: bool) -> Any:
    """aiohttp's timeout for a proxied request: a whole request must finish within it; a stream may run
    longer, but no read may stall for it."""
    t = _seconds(timeout_s)
    key = (t, stream)
    ct = _timeouts.get(key)
    if ct is None:
        aiohttp = _lib()
        ct = aiohttp.ClientTimeout(total=None, connect=t, sock_read=t) if stream else aiohttp.ClientTimeout(total=t)
        _timeouts[key] = ct
    return ct


def _proxy(url: str) -> Optional[str]:
    """The HTTP(S)_PROXY for ``url`` honouring NO_PROXY (read once per URL, like httpx's trust_env)."""
    try:
        return _proxies[url]
    except KeyError:
        pass
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and urllib.request.proxy_bypass(parts.hostname or ""):
        proxy = None
    if len(_proxies) > 1024:
        _proxies.clear()
    _proxies[url] = proxy = proxy or None
    return proxy  # not re-read from the table: another thread may clear it meanwhile


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


async def post_json(
    url: str,
    headers: Mapping[str, str],
    body: Any,
    timeout_s: Optional[float] = DEFAULT_TIMEOUT_S,
    *,
    provider: str = "",
) -> Tuple[int, Mapping[str, str], Any]:
    """POST ``body`` (a dict, or JSON bytes) and return ``(status, headers, parsed_json)`` of a 2xx answer.

    Anything else raises ``ProviderError`` (see ``http_error`` for the status mapping)."""
    data = body if isinstance(body, (bytes, bytearray)) else dumps(body)
    _check_userinfo(url, headers, provider)
    rheaders: Mapping[str, str]
    proxy = _proxy(url)
    try:
        if proxy is None:
            answer = await get_pool().post(url, headers, bytes(data), _seconds(timeout_s))
            status, rheaders, raw = answer.status, answer.headers, answer.body
            if 300 <= status < 400:
                raise _redirected(provider, url, status, _location(url, rheaders))
        else:
            status, rheaders, raw = await _post_proxied(url, proxy, headers, data, timeout_s, provider)
        if status >= 300:
            raise http_error(status, rheaders, raw, provider=provider, url=url)
    except ProviderError:
        raise
    except Exception as e:  # noqa: BLE001 - network failures are mapped, anything else re-raised
        _reraise(e, provider, url, timeout_s)
    try:
        return status, rheaders, json.loads(raw)
    except ValueError as e:
        raise ProviderError(
            f"{provider or 'provider'} returned a non-JSON body (HTTP {status}) from "
            f"{strip_userinfo(url)}: "
            f"{raw[:200].decode('utf-8', 'replace')!r}",
            status=status,
            kind="transient",
            provider=provider,
        ) from e


async def _post_proxied(
    url: str, proxy: str, headers: Mapping[str, str], data: Any, timeout_s: Optional[float], provider: str
) -> Tuple[int, Mapping[str, str], bytes]:
    async with get_session().post(
        url, data=data, headers=headers, timeout=_timeout(timeout_s, False), proxy=proxy
    ) as resp:
        if resp.history and resp.method != "POST":
            raise _redirected(provider, url, resp.history[0].status, str(resp.url))
        return resp.status, resp.headers, await resp.read()


async def post_sse(
    url: str,
    headers: Mapping[str, str],
    body: Any,
    timeout_s: Optional[float] = DEFAULT_TIMEOUT_S,
    *,
    provider: str = "",
    terminal_events: Tuple[str, ...] = (),
    require_end: Union[bool, Callable[[], bool]] = True,
) -> AsyncIterator[Tuple[str, Any]]:
    """POST ``body`` and yield the ``(event, json_data)`` pairs of the SSE answer (see ``aiter_sse``)."""
    from lllm.invokers.sse import aiter_sse

    data = body if isinstance(body, (bytes, bytearray)) else dumps(body)
    _check_userinfo(url, headers, provider)
    t = _seconds(timeout_s)
    proxy = _proxy(url)
    proxied = proxy is not None
    try:
        if proxied:
            resp: Any = await get_session().post(
                url, data=data, headers=headers, timeout=_timeout(timeout_s, True), proxy=proxy
            )
        else:
            resp = await get_pool().stream(url, headers, bytes(data), t)
    except Exception as e:  # noqa: BLE001
        _reraise(e, provider, url, timeout_s)
    try:
        if proxied and resp.history and resp.method != "POST":
            raise _redirected(provider, url, resp.history[0].status, str(resp.url))
        if not proxied and 300 <= resp.status < 400:
            raise _redirected(provider, url, resp.status, _location(url, resp.headers))
        if resp.status >= 300:
            try:
                raw = await resp.read()
            except Exception:  # noqa: BLE001 - the status alone decides the kind
                raw = b""
            raise http_error(resp.status, resp.headers, raw, provider=provider, url=url)
        source: Any = resp if proxied else resp.chunks()
        if "json" in resp.headers.get("Content-Type", "") and "event-stream" not in resp.headers["Content-Type"]:
            raw = await resp.read()
            answer = _json_or_none(raw)
            if answer is not None:
                if isinstance(answer, dict) and answer.get("error"):
                    yield "error", answer  # an error envelope: the provider's stream parser raises it, classified
                raise ProviderError(
                    f"{provider or 'provider'} answered a streamed request with a JSON body, not an event stream "
                    f"({raw[:200].decode('utf-8', 'replace')!r}); this server does not stream: call it without "
                    f"streaming",
                    status=resp.status,
                    body=answer,
                    provider=provider,
                )
            source = _chunks(raw)  # labelled JSON, but not JSON: read it as the event stream it may be
        async for item in aiter_sse(
            source, provider=provider, terminal_events=terminal_events, require_end=require_end, idle_s=t
        ):
            yield item
    except ProviderError:
        raise
    except Exception as e:  # noqa: BLE001
        _reraise(e, provider, url, timeout_s)
    finally:
        if proxied:
            resp.release()
        else:
            resp.close()


def json_object(data: Any, provider: str = "") -> Dict[str, Any]:
    """``data`` if it is a JSON object; a provider's answer or stream event that is not one (a list, a string,
    ``null``: another server at api_base) is a transient ProviderError, as a non-JSON body is."""
    if isinstance(data, dict):
        return data
    raise ProviderError(
        f"{provider or 'provider'} answered with JSON that is not an object: {json.dumps(data)[:200]} "
        f"(check that api_base points to the provider's API)",
        kind="transient",
        body=data,
        provider=provider,
    )


def _json_or_none(raw: bytes) -> Any:
    """``raw`` parsed as JSON, or ``None`` if it is not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def _chunks(raw: bytes) -> AsyncIterator[bytes]:
    yield raw


_KEY_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})
_BAD_HEADER_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters (CR, LF, ...)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token


def _check_userinfo(url: str, headers: Mapping[str, str], provider: str) -> None:
    """A URL's ``user:password@`` becomes a Basic ``Authorization`` header: it cannot go with another one.
    A header value with a control character (a key read from a file with its newline) is named, never shown;
    so is a header name that is not an HTTP token."""
    for name, value in headers.items():
        if not (isinstance(name, str) and _HEADER_NAME.fullmatch(name)):
            from lllm.errors import ConfigError

            raise ConfigError(
                f"{provider or 'provider'}: header name {name!r} (extra_headers) is not a valid HTTP header name "
                f"(letters, digits and !#$%&'*+.^_`|~- only)"
            )
        if isinstance(value, str) and _BAD_HEADER_CHARS.search(value):
            from lllm.errors import ConfigError

            what = (
                "the API key (api_key, or the provider's key variable)"
                if name.lower() in _KEY_HEADERS
                else (f"header {name!r} (extra_headers)")
            )
            raise ConfigError(
                f"{provider or 'provider'}: {what} contains a control character such as a line break (often a "
                f"trailing newline from the file it was read from); strip it."
            )
    if "@" in url and any(k.lower() == "authorization" for k in headers):
        from urllib.parse import urlsplit

        if urlsplit(url).username is not None:
            from lllm.errors import ConfigError

            raise ConfigError(
                f"{provider or 'provider'} api_base {strip_userinfo(url)!r} carries a user:password@ "
                f"and the request also has an Authorization header (from api_key or extra_headers); "
                f"pass the credential one way only."
            )


def _location(url: str, headers: Mapping[str, str]) -> str:
    """Where a redirect points, as an absolute URL."""
    from urllib.parse import urljoin

    where = headers.get("location")
    return urljoin(url, where) if where else "(no Location given)"


def _redirected(provider: str, url: str, status: int, new: str) -> ProviderError:
    """The fatal error for a redirect of the POST: only a 307/308 to the same origin is followed (a 301/302/303
    would turn it into a GET, another host must not receive the call unasked); retrying cannot help."""
    return ProviderError(
        f"{provider or 'provider'} api_base redirects: {strip_userinfo(url)} answered HTTP {status}, moving the "
        f"call to {strip_userinfo(new)}, where the POST is not sent on; set api_base to the new address",
        status=status,
        provider=provider,
    )


def _reraise(e: Exception, provider: str, url: str, timeout_s: Optional[float]) -> NoReturn:
    """Raise the ProviderError for a network failure, or ``e`` itself if it is not one (a bug)."""
    err = _map_exc(e, provider, url, timeout_s)
    if err is None:
        raise e
    scrub_exception(e)
    raise err from (None if _still_secret(e) else e)


def _still_secret(e: Optional[BaseException]) -> bool:
    """Whether a credential survives scrubbing in the text of ``e`` or of what it chains (a URL's
    ``user:password@`` inside a yarl ``URL``, e.g. the proxy of a ``ClientHttpProxyError``)."""
    for _ in range(16):
        if e is None:
            return False
        text = str(e)
        if scrub_text(text) != text:
            return True
        e = e.__cause__ or e.__context__
    return False


def _map_exc(e: Exception, provider: str, url: str, timeout_s: Optional[float]) -> Optional[ProviderError]:
    """The ProviderError for a network failure; ``None`` for anything else (a bug: re-raised as is)."""
    aiohttp = _aiohttp  # loaded only if a request went through a proxy
    label = provider or "provider"
    url = strip_userinfo(url)
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):  # includes aiohttp.ServerTimeoutError
        t = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        return ProviderError(
            f"{label} request to {url} timed out after {t:g}s (model_args['timeout'])",
            kind="transient",
            provider=provider,
        )
    invalid: Tuple[type, ...] = (h1.InvalidURL,)
    if aiohttp is not None:
        if isinstance(e, aiohttp.ClientHttpProxyError) and e.status == 407:  # the tunnel (CONNECT) was refused
            return _proxy_refused(provider, url)
        invalid += (aiohttp.InvalidURL, getattr(aiohttp, "NonHttpUrlClientError", aiohttp.InvalidURL))
    if isinstance(e, invalid):
        return ProviderError(f"{label} request URL is invalid: {url!r} (check api_base)", provider=provider)
    if isinstance(e, OSError) or (aiohttp is not None and isinstance(e, aiohttp.ClientError)):
        return ProviderError(
            f"{label} request to {url} failed: {type(e).__name__}: {e}", kind="transient", provider=provider
        )
    return None


# ---------------------------------------------------------------------------------------------
# Error mapping
# ---------------------------------------------------------------------------------------------


def classify_status(status: int) -> Optional[str]:
    """429 → ``rate_limit``; 408, 409, 498 (Groq), 5xx → ``transient``; other 4xx → ``None`` (fatal)."""
    if status == 429:
        return "rate_limit"
    if status >= 500 or status in TRANSIENT_STATUS:
        return "transient"
    return None


def parse_retry_after(headers: Mapping[str, str]) -> Optional[float]:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or an HTTP date); a value
    that is not a finite number of seconds is ignored."""
    for name, per_second in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            seconds = float(value) / per_second
        except ValueError:
            if name == "retry-after":
                return _retry_after_date(value)
            continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def _retry_after_date(value: str) -> Optional[float]:
    import datetime
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # the asctime form names no zone: HTTP dates are always GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def error_details(body: Any) -> Tuple[str, str]:
    """``(message, type/code)`` from an error body: OpenAI ``{"error":{message,type,code}}``, Anthropic
    ``{"type":"error","error":{type,message}}``, OpenRouter (``error.metadata.raw``), ``{"message"}``,
    ``{"detail"}``, ``{"error": "text"}`` or plain text."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            msg = str(err.get("message") or "")
            meta = err.get("metadata")
            if isinstance(meta, dict) and meta.get("raw"):  # OpenRouter: the upstream provider's words
                who = meta.get("provider_name")
                msg = f"{msg}: {meta['raw']}" + (f" (upstream: {who})" if who else "")
            tags = [str(err[k]) for k in ("type", "code") if err.get(k) not in (None, "")]
            if err.get("param"):
                tags.append(f"param={err['param']}")
            return msg or json.dumps(err)[:500], ", ".join(dict.fromkeys(tags))
        if isinstance(err, str):
            return err, ""
        for k in ("message", "detail", "msg"):
            if body.get(k):
                v = body[k]
                return (v if isinstance(v, str) else json.dumps(v)[:500]), str(body.get("type") or "")
        return json.dumps(body)[:500], ""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    return str(body or "").strip()[:500], ""


def _proxy_refused(provider: str, url: str) -> ProviderError:
    """407 is the proxy's answer, not the provider's; retrying cannot fix its credentials."""
    env = "HTTPS_PROXY" if url.lower().startswith("https:") else "HTTP_PROXY"
    return ProviderError(
        f"{provider or 'provider'} request to {strip_userinfo(url)} was refused by the HTTP proxy (407 Proxy "
        f"Authentication Required): check the proxy's user:password@ in {env}",
        status=407,
        provider=provider,
    )


def http_error(
    status: int, headers: Mapping[str, str], raw: bytes, *, provider: str = "", url: str = ""
) -> ProviderError:
    """The ProviderError for an HTTP error answer, with the provider's own message and the status."""
    if status == 407:
        return _proxy_refused(provider, url)
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    msg, tags = error_details(body)
    kind = classify_status(status)
    if kind == "rate_limit" and "insufficient_quota" in tags:  # OpenAI's 429 for an account out of credit
        kind = None
    should = (headers.get("x-should-retry") or "").strip().lower()  # OpenAI's and Anthropic's own verdict
    if should == "false":
        kind = None
    elif should == "true" and kind is None:
        kind = "transient"
    retry_after = parse_retry_after(headers) if kind is not None else None
    label = provider or "provider"
    text = f"{label} API error {status}" + (f" ({tags})" if tags else "") + f": {msg or 'no error message'}"
    return ProviderError(text, status=status, kind=kind, retry_after=retry_after, body=body, provider=provider)


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "prepare",
    "get_pool",
    "get_session",
    "aclose_session",
    "post_json",
    "post_sse",
    "http_error",
    "json_object",
    "classify_status",
    "parse_retry_after",
    "error_details",
    "dumps",
]
