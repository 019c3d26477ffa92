"""Dollar cost of a call from the maintained ``genai-prices`` table (imported on first use).

The table lookup is cached per (provider, model), in the process and on disk (``table_cache``: a
new process reads a model's rates from a small file instead of loading the whole table), so pricing a
call is a few float multiplications. Local servers cost 0. A model the table lacks, or a table that fails to load,
also prices at 0 but never silently: it is logged (a warning, once per provider and model).

Usage keys read (normalised, see ``lllm.core.message.InvokeCost``): ``prompt_tokens``
(all input tokens, cached ones included), ``cached_prompt_tokens`` (cache reads),
``cache_write_tokens`` (optional: cache creation, Anthropic), ``completion_tokens``."""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional, Tuple

from lllm.invokers import table_cache

# router provider name -> genai-prices provider id; None = a local server, always free
PROVIDER_IDS: Dict[str, Optional[str]] = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "groq": "groq",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "openrouter": "openrouter",
    "gemini": "google",
    "vertex_ai": "google",
    "bedrock": "aws",
    "cohere": "cohere",
    "cerebras": "cerebras",
    "perplexity": "perplexity",
    "ollama": None,
    "ollama_chat": None,
    "hosted_vllm": None,
    "vllm": None,
    "lm_studio": None,
    "test": None,
}
REFRESH_S = 3600.0  # prices may be date-conditional; re-read a cached entry after this long

# (input, output, cache_read, cache_write): each a float USD/token or a (base, ((start, price), ...)) tier table
Rates = Tuple[Any, Any, Any, Any]
_cache: Dict[Tuple[str, str], Tuple[float, Optional[Rates]]] = {}
logger = logging.getLogger("lllm.pricing")


def _lookup(provider: str, model: str) -> Tuple[Optional[Rates], Optional[str]]:
    """(rates, why there are none) from the genai-prices table; raises when the table itself fails."""
    from datetime import datetime, timezone

    from genai_prices import data_snapshot, types

    pid = PROVIDER_IDS.get(provider, provider or None)
    snap = data_snapshot.get_snapshot()
    try:
        try:
            _, info = snap.find_provider_model(model, None, pid, None)
        except LookupError:
            if pid is None or any(p.id == pid for p in snap.providers):
                return None, (
                    f"no price for model {model!r} at provider {provider!r} in genai-prices: its calls are "
                    f"recorded at cost $0 (tokens are still counted); upgrading genai-prices may add it"
                )
            _, info = snap.find_provider_model(model, None, None, None)  # unknown provider: let the table guess
    except LookupError:
        return None, (
            f"no price for model {model!r} (provider {provider!r} is not in genai-prices): its calls are "
            f"recorded at cost $0 (tokens are still counted)"
        )
    prices = info.get_prices(datetime.now(tz=timezone.utc))

    def conv(p: Any) -> Any:
        if p is None:
            return 0.0
        if isinstance(p, types.TieredPrices):
            return (
                float(p.base) / 1e6,
                tuple((t.start, float(t.price) / 1e6) for t in sorted(p.tiers, key=lambda t: t.start)),
            )
        return float(p) / 1e6

    g = prices.__dict__.get
    rates = (
        conv(g("input_mtok")),
        conv(g("output_mtok")),
        conv(g("cache_read_mtok", g("input_mtok"))),
        conv(g("cache_write_mtok", g("input_mtok"))),
    )
    return (None, None) if rates == (0.0, 0.0, 0.0, 0.0) else (rates, None)


def _from_json(rates: Any) -> Optional[Rates]:
    """Rates read back from the JSON cache: tier tables become tuples again."""
    if rates is None:
        return None
    return tuple(r if isinstance(r, float) else (float(r[0]), tuple((s, float(p)) for s, p in r[1])) for r in rates)  # type: ignore[return-value]


def _table_rates(provider: str, model: str, warn: bool = True) -> Optional[Rates]:
    """The table's rates, from this machine's cache of earlier lookups when it has them (``table_cache``)."""
    if provider in PROVIDER_IDS and PROVIDER_IDS[provider] is None:
        return None  # a local server: always free
    key = f"{provider}|{model}"
    entry = table_cache.get("prices", key)
    if isinstance(entry, dict) and 0 <= time.time() - float(entry.get("at", 0)) < REFRESH_S:
        if entry.get("warning") and warn:
            logger.warning("%s", entry["warning"])
        return _from_json(entry.get("rates"))
    try:
        rates, warning = _lookup(provider, model)
    except Exception:  # noqa: BLE001 - a broken or missing table must not fail the call it prices
        logger.warning(
            "pricing model %r at provider %r failed: its calls are recorded at cost $0", model, provider, exc_info=True
        )
        return None
    if warning and warn:
        logger.warning("%s", warning)
    table_cache.put("prices", key, {"at": time.time(), "rates": rates, "warning": warning})
    return rates


def get_rates(provider: str, model: str, *, warn: bool = True) -> Optional[Rates]:
    """Per-token rates of ``model`` at ``provider`` (cached, so an unknown model is logged once per
    ``REFRESH_S``; ``warn=False``: not at all), or ``None`` if unknown."""
    key = (provider, model)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    rates = _table_rates(provider, model, warn)
    _cache[key] = (now + REFRESH_S, rates)
    return rates


def _rate(r: Any, input_tokens: int) -> float:
    if type(r) is float:
        return r
    price: float = r[0]
    for start, p in r[1]:  # cliff tiers: crossing a threshold prices every token at that tier
        if input_tokens > start:
            price = p
    return price


def price_usage(provider: str, model: Optional[str], usage: Dict[str, Any], *, warn: bool = True) -> Dict[str, Any]:
    """Fill ``input_cost_per_token``, ``output_cost_per_token``, ``prompt_cost``, ``completion_cost``
    and ``cost`` into ``usage`` (in place, and returned); all 0 when the model is unknown (logged unless
    ``warn`` is false)."""
    rates = get_rates(provider, model, warn=warn) if model else None
    if rates is None:
        usage.update(
            input_cost_per_token=0.0, output_cost_per_token=0.0, prompt_cost=0.0, completion_cost=0.0, cost=0.0
        )
        return usage
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int(usage.get("cached_prompt_tokens") or 0)
    written = int(usage.get("cache_write_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    r_in, r_out = _rate(rates[0], prompt), _rate(rates[1], prompt)
    prompt_cost = (
        max(0, prompt - cached - written) * r_in + cached * _rate(rates[2], prompt) + written * _rate(rates[3], prompt)
    )
    completion_cost = completion * r_out
    usage.update(
        input_cost_per_token=r_in,
        output_cost_per_token=r_out,
        prompt_cost=prompt_cost,
        completion_cost=completion_cost,
        cost=prompt_cost + completion_cost,
    )
    return usage


__all__ = ["price_usage", "get_rates", "PROVIDER_IDS"]
