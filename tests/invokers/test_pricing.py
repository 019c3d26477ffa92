"""Cost from the genai-prices table: cached lookups, cache-read pricing, tiers, unknown → 0."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lllm.core.message import InvokeCost
from lllm.invokers.pricing import get_rates, price_usage

COST_KEYS = {"input_cost_per_token", "output_cost_per_token", "prompt_cost", "completion_cost", "cost"}


def usage(p=1000, c=50, cached=0, **kw):
    return {"prompt_tokens": p, "completion_tokens": c, "cached_prompt_tokens": cached, **kw}


@pytest.mark.parametrize(
    "provider, model",
    [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini-2024-07-18"),
        ("anthropic", "claude-sonnet-4-5"),
        ("groq", "llama-3.3-70b-versatile"),
        ("mistral", "mistral-small-latest"),
        ("xai", "grok-4"),
        ("deepseek", "deepseek-chat"),
    ],
)
def test_matches_genai_prices(provider, model):
    from genai_prices import Usage, calc_price

    from lllm.invokers.pricing import PROVIDER_IDS

    u = price_usage(provider, model, usage(1200, 300, cached=200))
    ref = calc_price(
        Usage(input_tokens=1200, cache_read_tokens=200, output_tokens=300),
        model,
        provider_id=PROVIDER_IDS[provider],
        genai_request_timestamp=datetime.now(tz=timezone.utc),
    )
    assert u["cost"] == pytest.approx(float(ref.total_price), rel=1e-9)
    assert u["prompt_cost"] == pytest.approx(float(ref.input_price), rel=1e-9)
    assert u["completion_cost"] == pytest.approx(float(ref.output_price), rel=1e-9)
    assert u["input_cost_per_token"] > 0 and u["output_cost_per_token"] > 0
    assert InvokeCost.from_usage(u).cost == u["cost"]


def test_cached_tokens_cost_less():
    full = price_usage("openai", "gpt-4o", usage(1000, 0))["cost"]
    cached = price_usage("openai", "gpt-4o", usage(1000, 0, cached=1000))["cost"]
    assert cached == pytest.approx(full / 2)  # gpt-4o cache reads are half price


def test_cache_writes_priced_at_write_rate():
    base = price_usage("anthropic", "claude-sonnet-4-5", usage(1000, 0))["cost"]
    written = price_usage("anthropic", "claude-sonnet-4-5", usage(1000, 0, cache_write_tokens=1000))["cost"]
    assert written == pytest.approx(base * 1.25)


def test_tiered_price_applies_above_threshold():
    small = price_usage("anthropic", "claude-sonnet-4-5", usage(100_000, 0))["input_cost_per_token"]
    large = price_usage("anthropic", "claude-sonnet-4-5", usage(300_000, 0))["input_cost_per_token"]
    assert large == pytest.approx(2 * small)


@pytest.mark.parametrize(
    "provider, model",
    [
        ("openai", "fake-model"),
        ("ollama", "llama3"),
        ("hosted_vllm", "gpt-4o"),
        ("openai", None),
        ("openrouter", "google/gemini-2.0-flash-exp:free"),
        ("nonexistent-provider", "no-such-model"),
    ],
)
def test_unknown_or_local_costs_zero(provider, model):
    u = price_usage(provider, model, usage())
    assert COST_KEYS <= set(u) and all(u[k] == 0 for k in COST_KEYS)


def test_lookup_is_cached():
    """Speed is a benchmark's business; here: the table is read once per (provider, model)."""
    assert get_rates("openai", "gpt-4.1") is get_rates("openai", "gpt-4.1")


def test_an_unknown_model_is_logged_once_not_silently_free(caplog):
    caplog.set_level("WARNING", logger="lllm.pricing")
    for _ in range(3):
        assert price_usage("openai", "model-the-table-lacks-x1", usage())["cost"] == 0
    warned = [r for r in caplog.records if "model-the-table-lacks-x1" in r.getMessage()]
    assert len(warned) == 1 and "cost $0" in warned[0].getMessage()
    caplog.clear()
    price_usage("ollama", "llama3-x1", usage())  # a local server is free by design: nothing to say
    assert not caplog.records


def test_a_broken_price_table_is_logged_with_its_error(caplog):
    """A table that fails to load (here: genai-prices' own custom-snapshot seam holding garbage)
    prices at 0 and says why, instead of swallowing the error."""
    from genai_prices.data_snapshot import DataSnapshot, set_custom_snapshot

    caplog.set_level("WARNING", logger="lllm.pricing")
    set_custom_snapshot(DataSnapshot(providers=None, from_auto_update=False))  # type: ignore[arg-type]
    try:
        assert price_usage("openai", "gpt-4o-broken-table-x1", usage())["cost"] == 0
    finally:
        set_custom_snapshot(None)
    (rec,) = [r for r in caplog.records if "gpt-4o-broken-table-x1" in r.getMessage()]
    assert "failed" in rec.getMessage() and rec.exc_info is not None
