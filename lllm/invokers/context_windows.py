"""Context windows from the maintained ``genai-prices`` table (read on first use, then cached in the
process and on disk, see ``table_cache``).

A tiny override table covers the few models the table gets wrong or is silent on; anything else
it does not know is ``None``, which the context manager reports in the log before it falls back."""

from __future__ import annotations

import logging
import threading
from typing import Dict, Optional, Tuple

from lllm.invokers import table_cache
from lllm.invokers.pricing import PROVIDER_IDS

logger = logging.getLogger("lllm.invokers")

#: Where the table is wrong (OpenAI documents 1,047,576 tokens for the GPT-4.1 family; the table rounds to 1,000,000).
#: A key matches the model name itself or the name followed by ``-`` (``gpt-4.1-mini``, dated snapshots).
OVERRIDES: Dict[str, int] = {"gpt-4.1": 1_047_576}
#: Where the table is silent: every Claude model since Claude 2.1 has a 200,000-token window.
FAMILY_DEFAULTS: Dict[str, int] = {"claude": 200_000}

_cache: Dict[Tuple[Optional[str], str], Optional[int]] = {}
_lock = threading.Lock()


def _prefixed(name: str, table: Dict[str, int]) -> Optional[int]:
    for key in sorted(table, key=len, reverse=True):
        if name == key or name.startswith(key + "-"):
            return table[key]
    return None


def _from_table(provider: Optional[str], name: str) -> Optional[int]:
    """The table's window for ``name`` at ``provider`` (any provider when it is ``None`` or not in the table),
    from this machine's cache of earlier lookups when it has them (``table_cache``)."""
    key = f"{provider}|{name}"
    entry = table_cache.get("windows", key)
    if isinstance(entry, dict):
        window = entry.get("window")
        return int(window) if isinstance(window, int) else None
    try:
        window = _read_table(provider, name)
    except Exception as e:  # noqa: BLE001 - a broken or missing table must not break a call
        logger.warning("Context window of model '%s' could not be read from genai-prices: %s", name, e)
        return None
    table_cache.put("windows", key, {"window": window})
    return window


def _read_table(provider: Optional[str], name: str) -> Optional[int]:
    pid = PROVIDER_IDS.get(provider, provider) if provider else None
    try:
        from genai_prices import data_snapshot

        snap = data_snapshot.get_snapshot()
        try:
            _, info = snap.find_provider_model(name, None, pid, None)
        except LookupError:
            if pid is not None and any(p.id == pid for p in snap.providers):
                return None  # the provider is in the table, the model is not
            _, info = snap.find_provider_model(name, None, None, None)
    except LookupError:
        return None
    window = info.context_window
    return int(window) if window else None


def _resolve(provider: Optional[str], model: str) -> Optional[int]:
    name = model
    if provider is None and "/" in model:
        prefix, rest = model.split("/", 1)
        if prefix in PROVIDER_IDS:
            provider, name = prefix, rest
    if provider is not None and provider in PROVIDER_IDS and PROVIDER_IDS[provider] is None:
        return None  # a local server: its window is whatever it was started with
    lowered = name.lower()
    return (
        _prefixed(lowered, OVERRIDES)
        or _from_table(provider, name)
        or _prefixed(lowered.rsplit("/", 1)[-1], FAMILY_DEFAULTS)
    )


def context_window(model: str, provider: Optional[str] = None) -> Optional[int]:
    """The context window of ``model`` in tokens, or ``None`` if unknown.

    ``provider`` is a router provider name (``openai``, ``anthropic``, ``groq``, ...); without it a
    ``provider/`` prefix of ``model`` is used, else the table's best match across providers."""
    key = (provider, model)
    try:
        return _cache[key]
    except KeyError:
        pass
    with _lock:  # one table read per model, however many threads ask at once
        if key not in _cache:
            if len(_cache) >= 4096:  # model names come from configs; a runaway generator must not grow this
                _cache.clear()
            _cache[key] = _resolve(provider, model)
        return _cache[key]


__all__ = ["context_window", "OVERRIDES", "FAMILY_DEFAULTS"]
