"""A Ray batch without a running instance starts and stops its own; the token bucket's arithmetic. The shared
limiter across processes is measured at the provider in test_ray_cluster.py."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'lllm[ray]' to run tests/on_ray")

import ray_tactics  # noqa: E402
from ray_tactics import Ask, config  # noqa: E402

from lllm.errors import ConfigError  # noqa: E402
from lllm.ray import RateLimit, RateLimiter  # noqa: E402
from lllm.ray.limiter import bucket_key  # noqa: E402


@pytest.fixture
def base(fake_servers, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ray-limits-test")
    url = fake_servers("--latency-ms", "10")
    fake_servers.stats(url, reset=True)
    return url


def test_without_ray_running_a_local_instance_is_started_and_stopped(base):
    assert not ray.is_initialized()
    opts = {"num_cpus": 2, "runtime_env": {"py_modules": [ray_tactics]}}
    out = Ask(config(base)).bcall(["a", "b", "c"], backend="ray", backend_options=opts)
    assert all(isinstance(r, str) and r for r in out)
    assert not ray.is_initialized()


def test_token_bucket_spaces_reservations_and_pauses_on_retry_after():
    bucket = RateLimiter()
    waits = [bucket.acquire("k", 10.0, 1) for _ in range(5)]
    assert waits[0] == 0.0
    assert all(w2 - w1 > 0.09 for w1, w2 in zip(waits, waits[1:]))  # 1/rate apart (less the time passing)
    assert bucket.acquire("other", 10.0, 1) == 0.0  # buckets are per key
    burst = [bucket.acquire("b", 1.0, 3) for _ in range(4)]
    assert burst[:3] == [0.0, 0.0, 0.0] and burst[3] > 0.9
    bucket.pause("p", 2.0)
    assert bucket.acquire("p", 100.0, 5) > 1.99  # the whole Retry-After: a burst allowance never shortens it
    assert bucket.stats()["p"] == {"requests": 1, "pauses": 1}
    bucket.pause("q", 2.0)
    assert min(bucket.acquire("q", 10.0, 50) for _ in range(10)) > 1.99  # not even a burst of 50 at 10/s


def test_rate_limit_is_checked():
    with pytest.raises(ConfigError, match="requests_per_second must be a number > 0"):
        RateLimit(0)
    with pytest.raises(ConfigError, match="burst must be an integer >= 1"):
        RateLimit(1.0, burst=0)


def test_bucket_key_hashes_the_key_and_never_holds_it(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-one")
    key = bucket_key("gpt-4o-mini", {})
    assert key.startswith("openai:") and "sk-secret-one" not in key
    assert bucket_key("gpt-4o-mini", {"api_key": "sk-secret-two"}) != key
    assert bucket_key("anthropic/claude-x", {}).startswith("anthropic:")
