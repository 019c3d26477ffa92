"""The on-disk cache of genai-prices lookups: a new process prices a model without loading the table."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

from lllm.invokers import context_windows, pricing, table_cache


def _fresh(monkeypatch):
    monkeypatch.setattr(pricing, "_cache", {})
    monkeypatch.setattr(context_windows, "_cache", {})


def test_a_lookup_is_written_and_read_back_without_the_table(tmp_path, monkeypatch, table_cache_dir):
    table_cache_dir(str(tmp_path))
    _fresh(monkeypatch)
    rates = pricing.get_rates("openai", "gpt-4o")
    window = context_windows.context_window("gpt-4o", "openai")
    [file] = list(tmp_path.glob("genai-prices-*.json"))
    data = json.loads(file.read_text())
    assert (
        data["prices"]["openai|gpt-4o"]["rates"] == list(rates) and data["windows"]["openai|gpt-4o"]["window"] == window
    )

    code = (
        "import sys; from lllm.invokers import pricing, context_windows;"
        "print(pricing.get_rates('openai', 'gpt-4o'), context_windows.context_window('gpt-4o', 'openai'),"
        " 'genai_prices' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "LLLM_CACHE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[-1] == "False"  # answered from the file: the table was never imported
    assert " ".join(out[:-1]) == f"{rates} {window}"


def test_tiered_rates_come_back_as_tuples(tmp_path, monkeypatch, table_cache_dir):
    table_cache_dir(str(tmp_path))
    tier = (1e-06, ((200000, 2e-06),))
    table_cache.put(
        "prices", "p|tiered", {"at": __import__("time").time(), "rates": [tier, 1e-06, 0.0, 0.0], "warning": None}
    )
    table_cache.reset()  # read from the file, as a new process would
    _fresh(monkeypatch)
    rates = pricing.get_rates("p", "tiered")
    assert rates == (tier, 1e-06, 0.0, 0.0) and isinstance(rates[0][1], tuple)
    assert pricing.price_usage("p", "tiered", {"prompt_tokens": 300000, "completion_tokens": 0})["prompt_cost"] == 0.6


def test_an_unknown_model_is_still_logged_when_answered_from_the_file(tmp_path, monkeypatch, caplog, table_cache_dir):
    table_cache_dir(str(tmp_path))
    _fresh(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="lllm.pricing"):
        assert pricing.get_rates("openai", "no-such-model-xyz") is None
    table_cache.reset()
    _fresh(monkeypatch)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lllm.pricing"):
        assert pricing.get_rates("openai", "no-such-model-xyz") is None
    assert "no price for model 'no-such-model-xyz' at provider 'openai'" in caplog.text


def test_stale_broken_or_unwritable_files_fall_back_to_the_table(tmp_path, monkeypatch, table_cache_dir):
    table_cache_dir(str(tmp_path))
    _fresh(monkeypatch)
    expected = pricing.get_rates("openai", "gpt-4o")
    [file] = list(tmp_path.glob("genai-prices-*.json"))
    data = json.loads(file.read_text())
    data["prices"]["openai|gpt-4o"] = {"at": 0, "rates": [9.0, 9.0, 9.0, 9.0], "warning": None}  # expired
    file.write_text(json.dumps(data))
    table_cache.reset()
    _fresh(monkeypatch)
    assert pricing.get_rates("openai", "gpt-4o") == expected
    file.write_text("{not json")
    table_cache.reset()
    _fresh(monkeypatch)
    assert pricing.get_rates("openai", "gpt-4o") == expected
    assert json.loads(file.read_text())["prices"]["openai|gpt-4o"]["rates"] == list(expected)  # rewritten

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    table_cache_dir(str(blocked / "cache"))  # a directory that cannot be created
    _fresh(monkeypatch)
    assert pricing.get_rates("openai", "gpt-4o") == expected
    assert not list(tmp_path.glob("*.tmp"))


def test_off_disables_the_file(tmp_path, monkeypatch, table_cache_dir):
    table_cache_dir("off")
    _fresh(monkeypatch)
    assert table_cache.cache_dir() is None
    assert pricing.get_rates("openai", "gpt-4o") is not None
    assert not list(tmp_path.iterdir())
