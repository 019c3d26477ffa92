"""Secret redaction (§9.3 item 5): applied to everything a log store writes, before it is written.

Two rules, on JSON-like values (dicts, lists, scalars):
- a field whose *name* says it holds a secret (api_key, token, secret, password, authorization, …) has
  its value replaced by ``"[REDACTED]"`` — unless the value is a number, a bool or empty, so counters
  such as ``max_tokens`` or ``prompt_tokens`` survive;
- any string (a dict key too) equal to, or containing, a known credential has it replaced by
  ``"[REDACTED]"``: a provider key present in the environment (a variable named ``API_KEY`` or ending
  in ``_API_KEY``, ``_TOKEN``, ``_SECRET`` …), or any credential an invoker registered
  (``lllm.secrets``: api keys, header values, URL userinfo); ``user:password@`` is removed from
  every URL.

The names in a JSON Schema ``properties`` or ``$defs`` map (a tool's parameters) are not
fields: a tool parameter called ``token``, or one typed by a model called ``Token``, keeps its schema in the
recorded request."""

from __future__ import annotations

from typing import Any, Iterable, List, Optional

from lllm.secrets import MIN_SECRET_LENGTH, REDACTED, environment_secrets, hide, is_secret_name, known_secrets

_SCHEMA_MAPS = frozenset({"properties", "$defs"})  # JSON Schema maps keyed by names, not fields


def redact(value: Any, secrets: Optional[Iterable[str]] = None) -> Any:
    """A copy of a JSON-like ``value`` with secrets replaced by ``"[REDACTED]"``.

    ``secrets`` are literal values to hide (by default those found in the environment); the
    credentials registered by invokers (``lllm.secrets.known_secrets``) are always hidden too."""
    found = set(environment_secrets() if secrets is None else (s for s in secrets if s))
    found.update(known_secrets())
    return _redact(value, sorted(found, key=len, reverse=True))


def _redact(value: Any, secrets: List[str], schema_properties: bool = False) -> Any:
    """``schema_properties``: ``value`` is a JSON Schema ``properties`` (or ``$defs``) map of a tool's parameters,
    whose names are parameter (or model) names: a ``token`` parameter's schema is kept, only secret values are hidden."""
    if isinstance(value, dict):
        return {
            hide(k, secrets) if isinstance(k, str) else k: REDACTED
            if _is_secret_field(k, v, schema_properties)
            else _redact(v, secrets, k in _SCHEMA_MAPS)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact(v, secrets) for v in value]
    return hide(value, secrets) if isinstance(value, str) else value


def _is_secret_field(name: Any, value: Any, schema_properties: bool) -> bool:
    """Numbers, bools, ``None`` and empty values are never secrets (``max_tokens: 100`` is kept), nor
    is the schema of a parameter."""
    if value is None or isinstance(value, (bool, int, float)) or not value:
        return False
    if schema_properties and isinstance(value, dict):
        return False
    return isinstance(name, str) and is_secret_name(name)


__all__ = ["REDACTED", "redact", "is_secret_name", "environment_secrets", "MIN_SECRET_LENGTH"]
