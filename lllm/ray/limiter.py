"""A cluster-wide rate limit: one Ray actor holds a token bucket per provider and key; every worker asks
it before each model request, and a provider's Retry-After pauses that bucket for all workers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

from lllm.errors import ConfigError, ProviderError

LIMITER_NAME = "lllm-rate-limiter"
LIMITER_NAMESPACE = "lllm"


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests_per_second`` model requests per provider and key across the cluster, with
    bursts of up to ``burst`` requests."""

    requests_per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        rps, burst = self.requests_per_second, self.burst
        if isinstance(rps, bool) or not isinstance(rps, (int, float)) or not rps > 0:
            raise ConfigError(f"RateLimit: requests_per_second must be a number > 0, got {rps!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigError(f"RateLimit: burst must be an integer >= 1, got {burst!r}")


class RateLimiter:
    """Token buckets by key (run as a Ray actor). ``acquire`` reserves the next slot and says how long to
    wait for it; reservations are spaced ``1/rate`` apart, so the rate stays under the cap."""

    def __init__(self) -> None:
        self._next: Dict[str, float] = {}  # key -> when the bucket is empty again (theoretical arrival time)
        self._paused: Dict[str, float] = {}  # key -> no request starts before this (Retry-After; burst or not)
        self._counts: Dict[str, Dict[str, int]] = {}

    def acquire(self, key: str, rate: float, burst: int) -> float:
        """Seconds the caller waits before its request (0 when a token is free now)."""
        now = time.monotonic()
        interval = 1.0 / rate
        tat = max(self._next.get(key, now), now)
        start = max(now, tat - (burst - 1) * interval, self._paused.get(key, 0.0))
        self._next[key] = max(tat, start) + interval
        self._count(key, "requests")
        return start - now

    def pause(self, key: str, seconds: float) -> None:
        """A provider asked to wait ``seconds`` (Retry-After): no request on ``key`` starts before then."""
        until = time.monotonic() + max(0.0, seconds)
        self._paused[key] = max(self._paused.get(key, 0.0), until)
        self._next[key] = max(self._next.get(key, 0.0), until)
        self._count(key, "pauses")

    def _count(self, key: str, what: str) -> None:
        counts = self._counts.setdefault(key, {"requests": 0, "pauses": 0})
        counts[what] += 1

    def stats(self) -> Dict[str, Dict[str, int]]:
        """Per key: the requests let through and the pauses asked for (Retry-After)."""
        return {k: dict(v) for k, v in self._counts.items()}


def limiter_actor() -> Any:
    """The cluster's limiter actor: named and detached in namespace ``lllm``, so the workers of every driver
    share it; the first caller creates it (stop it with ``ray.kill(ray.get_actor(LIMITER_NAME, LIMITER_NAMESPACE))``)."""
    import ray

    remote: Any = ray.remote
    actor = remote(num_cpus=0, max_concurrency=64)(RateLimiter)
    opts = {"name": LIMITER_NAME, "namespace": LIMITER_NAMESPACE, "lifetime": "detached", "get_if_exists": True}
    return actor.options(**opts).remote()


def bucket_key(model: str, model_args: Optional[Dict[str, Any]]) -> str:
    """``provider:key-hash``: the key is the request's ``api_key``, else the provider's environment variable;
    only a short hash of it leaves the worker."""
    provider = model.split("/", 1)[0] if "/" in model else ("anthropic" if model.startswith("claude") else "openai")
    key = (model_args or {}).get("api_key") or os.environ.get(f"{provider.upper()}_API_KEY", "")
    return f"{provider}:{hashlib.sha256(str(key).encode()).hexdigest()[:12]}"


class LimitedInvoker:
    """An invoker that takes a token from the shared limiter before each request it passes on."""

    def __init__(self, inner: Any, limiter: Any, limit: RateLimit):
        self._inner, self._limiter, self._limit = inner, limiter, limit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def acall(
        self, dialog: Any, model: str, model_args: Optional[Dict[str, Any]] = None, *a: Any, **kw: Any
    ) -> Any:
        key = bucket_key(model, model_args)
        wait = await self._limiter.acquire.remote(key, float(self._limit.requests_per_second), self._limit.burst)
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            return await self._inner.acall(dialog, model, model_args, *a, **kw)
        except ProviderError as e:
            if e.retry_after is not None:
                await self._limiter.pause.remote(key, e.retry_after)
            raise


__all__ = [
    "RateLimit",
    "RateLimiter",
    "LimitedInvoker",
    "limiter_actor",
    "bucket_key",
    "LIMITER_NAME",
    "LIMITER_NAMESPACE",
]
