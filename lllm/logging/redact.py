"""Secret redaction (§9.3 item 5): applied to everything a log store writes, before it is written.

Two rules, on JSON-like values (dicts, lists, scalars):
- a field whose *name* says it holds a secret (api_key, token, secret, password, authorization, …) has
  its value replaced by ``"[REDACTED]"`` — unless the value is a number, a bool or empty, so counters
  such as ``max_tokens`` or ``prompt_tokens`` survive;
- any string (a dict key too) equal to, or containing, a provider key present in the environment (a
  variable named ``API_KEY`` or ending in ``_API_KEY``, ``_TOKEN``, ``_SECRET`` …) has that key replaced
  by ``"[REDACTED]"``.

The names in a JSON Schema ``properties`` map (a tool's parameters) are not fields: a tool parameter
called ``token`` keeps its schema in the recorded request."""
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
_SECRET_ENV = re.compile(r"(^|_)(API_KEY|TOKEN|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|ACCESS_KEY)$")
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


def _redact(value: Any, secrets: List[str], schema_properties: bool = False) -> Any:
    """``schema_properties``: ``value`` is a JSON Schema ``properties`` map (a tool's parameters), whose
    names are parameter names: a ``token`` parameter's schema is kept, only secret values are hidden."""
    if isinstance(value, dict):
        return {_hide(k, secrets) if isinstance(k, str) else k:
                REDACTED if _is_secret_field(k, v, schema_properties) else _redact(v, secrets, k == "properties")
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v, secrets) for v in value]
    return _hide(value, secrets) if isinstance(value, str) else value


def _hide(text: str, secrets: List[str]) -> str:
    for s in secrets:
        if s in text:
            text = text.replace(s, REDACTED)
    return text


def _is_secret_field(name: Any, value: Any, schema_properties: bool) -> bool:
    """Numbers, bools, ``None`` and empty values are never secrets (``max_tokens: 100`` is kept), nor
    is the schema of a parameter."""
    if value is None or isinstance(value, (bool, int, float)) or not value:
        return False
    if schema_properties and isinstance(value, dict):
        return False
    return isinstance(name, str) and is_secret_name(name)


__all__ = ["REDACTED", "redact", "is_secret_name", "environment_secrets", "MIN_SECRET_LENGTH"]
