"""A Ray batch without a running instance starts and stops its own; the shared rate limiter caps the request
rate across workers and spreads a provider's Retry-After to all of them."""

from __future__ import annotations

import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'lllm[ray]' to run tests/on_ray")

import ray_tactics  # noqa: E402
from ray_tactics import Ask, config  # noqa: E402

from lllm.errors import ConfigError  # noqa: E402
from lllm.ray import RateLimit, RateLimiter  # noqa: E402
from lllm.ray.limiter import LIMITER_NAME, bucket_key  # noqa: E402


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
    assert bucket.acquire("p", 100.0, 5) > 1.9
    assert bucket.stats()["p"] == {"requests": 1, "pauses": 1}


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


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"py_modules": [ray_tactics]})
    yield
    ray.shutdown()


def test_shared_limiter_keeps_the_rate_under_its_cap(cluster, base, fake_servers):
    tasks = [f"t{i}" for i in range(8)]
    opts = {"rate_limit": RateLimit(1.5), "actors": 2}
    start = time.monotonic()
    out = Ask(config(base)).bcall(tasks, max_workers=8, backend="ray", backend_options=opts)
    elapsed = time.monotonic() - start
    assert all(isinstance(r, str) for r in out)
    served = fake_servers.stats(base)["chat_requests"]
    assert served == 8
    # 8 requests at <= 1.5/s span at least 4.7 s however fast the machine; unlimited, this batch takes ~3 s here
    assert elapsed >= (served - 1) / 1.5
    stats = ray.get(ray.get_actor(LIMITER_NAME).stats.remote())
    assert sum(v["requests"] for v in stats.values()) >= 8


def test_retry_after_pauses_the_bucket_for_every_worker(cluster, fake_servers, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ray-limits-test")
    url = fake_servers("--p429", "0.3", "--retry-after", "0.2", "--seed", "7")
    fake_servers.stats(url, reset=True)
    before = ray.get(ray.get_actor(LIMITER_NAME).stats.remote()) if _has_limiter() else {}
    opts = {"rate_limit": RateLimit(50.0, burst=4), "actors": 2}
    out = Ask(config(url)).bcall([f"t{i}" for i in range(8)], max_workers=4, backend="ray", backend_options=opts)
    assert all(isinstance(r, str) for r in out)
    faults = fake_servers.stats(url)["fault_429"]
    assert faults > 0
    after = ray.get(ray.get_actor(LIMITER_NAME).stats.remote())
    pauses = sum(v["pauses"] for v in after.values()) - sum(v["pauses"] for v in before.values())
    assert pauses == faults  # every 429's Retry-After reached the shared bucket


def _has_limiter() -> bool:
    try:
        ray.get_actor(LIMITER_NAME)
        return True
    except ValueError:
        return False
