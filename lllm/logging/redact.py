"""Secret redaction (§9.3 item 5): applied to everything a log store writes, before it is written.

Two rules, on JSON-like values (dicts, lists, scalars):
- a field whose *name* says it holds a secret (api_key, token, secret, password, authorization, …) has
  its value replaced by ``"[REDACTED]"`` — unless the value is a number, a bool or empty, so counters
  such as ``max_tokens`` or ``prompt_tokens`` survive;
- any string equal to, or containing, a provider key present in the environment (a variable whose
  name ends in ``_API_KEY``, ``_TOKEN``, ``_SECRET`` …) has that key replaced by ``"[REDACTED]"``."""
from __future__ import annotations

import functools
import os
import re
from typing import Any, Iterable, List, Mapping, Optional

REDACTED = "[REDACTED]"

# Field names (lower-cased, '-' read as '_') that hold secrets. A bare "key" only alone, "token" only as
# the last word, so ``prompt_key``, ``cache_key`` and ``max_tokens`` are kept.
_SECRET_NAME = re.compile(
    r"secret|password|passwd|authorization|credential|cookie"
    r"|^key$|(^|_)(api_?key|access_?key|private_?key|signing_?key|token)$")
# Environment variables whose values are provider secrets.
_SECRET_ENV = re.compile(r"(_API_KEY|_TOKEN|_SECRET|_SECRET_KEY|_SECRET_ACCESS_KEY|_ACCESS_KEY)$")
# Shorter values are too likely to occur by chance ("1", "true") to be replaced everywhere.
MIN_SECRET_LENGTH = 8


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name.lower().replace("-", "_")))


def environment_secrets(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """Values of provider-key variables in the environment, longest first (so overlaps redact fully)."""
    env = os.environ if environ is None else environ
    found = {v for k, v in env.items() if _SECRET_ENV.search(k.upper()) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(found, key=len, reverse=True)


def redact(value: Any, secrets: Optional[Iterable[str]] = None) -> Any:
    """A copy of a JSON-like ``value`` with secrets replaced by ``"[REDACTED]"``.

    ``secrets`` are the literal values to hide; by default those found in the environment."""
    secret_list = environment_secrets() if secrets is None else [s for s in secrets if s]
    return _redact(value, secret_list)


def _redact(value: Any, secrets: List[str]) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _holds_secret(v) and is_secret_name(k)
                else _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, str) and secrets:
        for s in secrets:
            if s in value:
                value = value.replace(s, REDACTED)
    return value


def _holds_secret(value: Any) -> bool:
    """Numbers, bools, ``None`` and empty values are never secrets (``max_tokens: 100`` is kept)."""
    if value is None or isinstance(value, (bool, int, float)):
        return False
    return bool(value)


__all__ = ["REDACTED", "redact", "is_secret_name", "environment_secrets", "MIN_SECRET_LENGTH"]
