"""The shared HTTP layer: status mapping, Retry-After, error messages, per-loop pools."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time

import pytest

from lllm.invokers import http


@pytest.mark.parametrize(
    "status, kind",
    [
        (400, None),
        (401, None),
        (403, None),
        (404, None),
        (422, None),
        (408, "transient"),
        (409, "transient"),
        (429, "rate_limit"),
        (500, "transient"),
        (502, "transient"),
        (503, "transient"),
        (529, "transient"),
    ],
)
def test_classify_status(status, kind):
    assert http.classify_status(status) == kind


def test_retry_after_forms():
    assert http.parse_retry_after({"retry-after": "3"}) == 3.0
    assert http.parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert http.parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < http.parse_retry_after({"retry-after": when}) <= 31
    assert http.parse_retry_after({"retry-after": "garbage"}) is None
    assert http.parse_retry_after({}) is None


def test_error_messages_of_each_envelope():
    openai = {
        "error": {"message": "Bad model", "type": "invalid_request_error", "code": "model_not_found", "param": None}
    }
    e = http.http_error(404, {}, json.dumps(openai).encode(), provider="openai")
    assert str(e) == "openai API error 404 (invalid_request_error, model_not_found): Bad model"
    assert e.kind is None and e.status == 404 and e.body == openai and e.provider == "openai"

    anthropic = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "r"}
    e = http.http_error(529, {"retry-after": "2"}, json.dumps(anthropic).encode(), provider="anthropic")
    assert e.kind == "transient" and e.retry_after == 2.0 and "Overloaded" in str(e) and "overloaded_error" in str(e)

    openrouter = {
        "error": {
            "code": 429,
            "message": "Provider returned error",
            "metadata": {"provider_name": "Google", "raw": "rate-limited upstream"},
        }
    }
    e = http.http_error(429, {}, json.dumps(openrouter).encode(), provider="openrouter")
    assert e.kind == "rate_limit" and "rate-limited upstream" in str(e) and "Google" in str(e)

    e = http.http_error(502, {}, b"<html>Bad Gateway</html>", provider="x")
    assert e.kind == "transient" and "Bad Gateway" in str(e) and "502" in str(e)
    e = http.http_error(400, {}, json.dumps({"detail": "vLLM says no"}).encode())
    assert "vLLM says no" in str(e) and e.kind is None
    e = http.http_error(404, {}, json.dumps({"error": "model 'llama9' not found"}).encode(), provider="ollama")
    assert "llama9" in str(e)


async def test_one_session_per_loop_reused():
    s1 = http.get_session()
    assert http.get_session() is s1 and not s1.closed
    other = []

    def in_other_loop():
        async def grab():
            s = http.get_session()
            other.append(s)
            await http.aclose_session()

        asyncio.run(grab())

    await asyncio.to_thread(in_other_loop)
    assert other[0] is not s1 and other[0].closed
    await http.aclose_session()
    assert s1.closed and http.get_session() is not s1


def test_sessions_of_closed_loops_are_dropped_quietly():
    async def open_one():
        return http.get_session()

    loop = asyncio.new_event_loop()
    s = loop.run_until_complete(open_one())
    loop.close()  # closed by hand, without asyncio.run's shutdown: the session is still open
    assert not s.closed and loop in http._sessions

    s2 = asyncio.run(open_again_and_keep())
    assert s.closed and s2 is not s and loop not in http._sessions  # swept when the next loop opened its session
    assert s2.closed and loop not in http._closers  # asyncio.run closed its own before closing its loop


async def open_again_and_keep():
    return http.get_session()


def test_a_closed_loops_pooled_connection_is_closed_when_swept(fake_servers):
    """A loop closed by hand with a keep-alive connection in its pool: sweeping it closes the pool and leaves
    no un-awaited coroutine or waiter behind to warn."""
    import gc
    import warnings

    url = fake_servers()

    async def one_request():
        status, _, body = await http.post_json(
            url + "/chat/completions",
            {"Authorization": "Bearer k"},
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        return http.get_pool(), status

    loop = asyncio.new_event_loop()
    pool, status = loop.run_until_complete(one_request())
    loop.close()
    assert status == 200 and not pool.closed and sum(map(len, pool.idle.values())) == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        http._forget(loop)
        gc.collect()
    assert pool.closed and not pool.idle and loop not in http._pools and loop not in http._closers
    assert not [w for w in caught if "await" in str(w.message)], [str(w.message) for w in caught]


def test_asyncio_run_closes_its_loops_pools(fake_servers):
    """``asyncio.run`` ends its loop: its pool's keep-alive sockets and its aiohttp session (proxied requests)
    are closed then, not left open for the garbage collector to find (a ResourceWarning per socket)."""
    import gc
    import warnings

    url = fake_servers()

    async def one_request():
        await http.post_json(
            url + "/chat/completions",
            {"Authorization": "Bearer k"},
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        return http.get_pool(), http.get_session()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pool, s = asyncio.run(one_request())
        gc.collect()
    assert pool.closed and not pool.idle and pool not in http._pools.values()
    assert s.closed and s not in http._sessions.values()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [str(w.message) for w in caught]


def test_retry_after_that_is_not_finite_is_ignored():
    assert http.parse_retry_after({"retry-after": "inf"}) is None
    assert http.parse_retry_after({"retry-after": "nan"}) is None
    assert http.parse_retry_after({"retry-after-ms": "1e999", "retry-after": "4"}) == 4.0


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_a_timeout_that_would_disable_the_timeout_is_rejected(timeout):
    """aiohttp treats 0 (and negatives) as *no* timeout: a call could hang forever."""
    from lllm.errors import ConfigError

    with pytest.raises(ConfigError, match="timeout"):
        http._timeout(timeout, False)
