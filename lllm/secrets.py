"""Credentials LLLM has seen, so they can be removed by value from everything it stores or emits.

Invokers register every credential they hold the moment they build a request; ``scrub_text``
and ``scrub`` (and ``lllm.logging.redact.redact``, used by every log store) then replace
each registered value, and each provider key found in the environment, by ``"[REDACTED]"``.

What is scrubbed
----------------
- *Which values*: every ``api_key`` (model_args, ``invoker_config``, ``respond(args=...)``, or the
  provider's environment variable), the value of every request header an invoker sends or is given
  (``extra_headers``, ``default_headers``, ``headers``) except the never-secret headers in
  ``NON_CREDENTIAL_HEADERS``, the user and password of a URL's userinfo
  (``http://user:password@host``, plus the ``Basic`` header made of them), the value of any setting
  whose name says it is a secret (``token``, ``password``, ``aws_secret_access_key`` …), and the values
  of environment variables named ``API_KEY``, ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET`` …, each also in
  its percent-encoded forms (as it appears in a URL an HTTP client's error names).
  Values shorter than ``MIN_SECRET_LENGTH`` characters are not replaced by value (too likely
  to occur by chance), and ``user:password@`` is removed from every URL whatever its length.
- *Where*: every log store (SQLite, JSON files, PostgreSQL) and so ``lllm sessions export``,
  OpenTelemetry spans, the log records of the ``lllm`` loggers (message and traceback),
  ``lllm.errors.ProviderError`` and ``lllm.errors.AgentCallError`` messages, the error
  body a provider answered with, the exceptions a provider error was raised from (an SDK's message
  or body), and the session attached to an ``AgentCallError``. Stored URLs lose their userinfo.
- *Limits*: a credential that never went through an invoker nor the environment (e.g. typed into
  a prompt) is only hidden where its field name gives it away; the registry lives for the process,
  is never written anywhere, and is meant for a handful of keys (each is looked for in every string
  stored). A header value that is not a secret but was sent under an unusual header name is
  scrubbed too: scrubbing is by value, not by name."""

from __future__ import annotations

import base64
import functools
import logging
import os
import re
import threading
import traceback
from collections.abc import Mapping as AbcMapping
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

REDACTED = "[REDACTED]"
# Shorter values are too likely to occur by chance ("1", "true") to be replaced everywhere.
MIN_SECRET_LENGTH = 8
#: Request headers whose values are never credentials (lower-case); every other header value is one.
NON_CREDENTIAL_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "accept",
        "accept-encoding",
        "accept-language",
        "connection",
        "host",
        "user-agent",
        "anthropic-version",
        "anthropic-beta",
        "openai-beta",
        "http-referer",
        "referer",
        "x-title",
    }
)
#: Settings holding a map of request headers.
HEADER_SETTINGS = frozenset({"extra_headers", "default_headers", "headers", "http_headers"})

# Field names (lower-cased, '-' read as '_') that hold secrets. A bare "key" only alone, "token" only as
# the last word, so ``prompt_key``, ``cache_key`` and ``max_tokens`` are kept.
_SECRET_NAME = re.compile(
    r"secret|password|passwd|authorization|credential|cookie"
    r"|^key$|(^|_)(api_?key|access_?key|private_?key|signing_?key|token)$"
)
# Environment variables whose values are provider secrets.
_SECRET_ENV = re.compile(r"(^|_)(API_KEY|TOKEN|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|ACCESS_KEY)$")
# ``user:password@`` right after ``scheme://``
_USERINFO = re.compile(r"(?<=://)[^\s/?#@:]*:[^\s/?#@]*@")
_ONE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*\Z")
_AUTH_SCHEMES = ("bearer ", "basic ", "token ", "apikey ", "key ")

_lock = threading.Lock()
_values: Set[str] = set()
_secret_names: Dict[str, bool] = {}  # is_secret_name's answers (settings are walked on every request)
_sorted: Tuple[str, ...] = ()


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret."""
    known = _secret_names.get(name)
    if known is None:
        known = bool(_SECRET_NAME.search(name.lower().replace("-", "_")))
        if len(_secret_names) >= 4096:  # settings keys are few; a generator of names must not grow it
            _secret_names.clear()
        _secret_names[name] = known
    return known


def environment_secrets(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """Values of provider-key variables in the environment, longest first (so overlaps redact fully)."""
    if environ is None:
        return list(_process_environment_secrets())
    return list(_read_environment_secrets(environ))


def _encoded(value: str) -> Set[str]:
    """``value`` and its percent-encoded forms (a key with ``+``, ``/`` or ``=`` changes when put in a URL)."""
    return {value, quote(value), quote(value, safe=""), quote_plus(value)}


def _read_environment_secrets(env: Mapping[str, str]) -> Tuple[str, ...]:
    values = {v.strip() for k, v in env.items() if _SECRET_ENV.search(k.upper())}  # a file's newline: not shown
    found = {form for v in values if len(v) >= MIN_SECRET_LENGTH for form in _encoded(v)}
    return tuple(sorted(found, key=len, reverse=True))


# os.environ's values read last time, and the secrets found in them. ``os.environ`` keeps its encoded
# items in a plain dict: comparing that dict with the copy taken last time is a few microseconds (the
# same objects compare by identity), decoding and matching every variable again ~75 µs. Any change made
# through ``os.environ`` (set, update, delete) makes the copies differ, so a key set later is seen.
_env_cache: Tuple[Optional[Dict[str, str]], Tuple[str, ...]] = (None, ())


def _process_environment_secrets() -> Tuple[str, ...]:
    global _env_cache
    raw = getattr(os.environ, "_data", None)
    if not isinstance(raw, dict):  # another Python: read it all every time
        return _read_environment_secrets(os.environ)
    seen, found = _env_cache  # one tuple: a thread never sees the copy of one read with another's result
    if seen is not None and raw == seen:
        return found
    snapshot = dict(raw)  # taken first: a change made while reading differs from it next time
    found = _read_environment_secrets(os.environ)
    _env_cache = (snapshot, found)
    return found


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------


def register_secret(value: Any) -> None:
    """Remember ``value`` as a credential, with its percent-encoded forms (ignored unless a string of at
    least MIN_SECRET_LENGTH)."""
    global _sorted
    if not isinstance(value, str) or value in _values:
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH or value in _values:
        return
    with _lock:
        if value not in _values:
            _values.update(_encoded(value))
            _sorted = tuple(sorted(_values, key=len, reverse=True))


def register_header(name: Any, value: Any) -> None:
    """Remember a request header's value (and the credential after an auth scheme such as ``Bearer``)."""
    if not isinstance(value, str) or str(name).strip().lower() in NON_CREDENTIAL_HEADERS:
        return
    register_secret(value)
    low = value[:8].lower()
    for scheme in _AUTH_SCHEMES:
        if low.startswith(scheme):
            register_secret(value[len(scheme) :])
            break


def register_headers(headers: Any) -> None:
    """Remember the values of every credential-bearing header in a header map."""
    if isinstance(headers, (dict, AbcMapping)):
        for name, value in headers.items():
            register_header(name, value)


def register_url(url: Any) -> None:
    """Remember the user and password of a URL's userinfo, and the ``Basic`` credential made of them."""
    if not isinstance(url, str) or "@" not in url or "://" not in url:
        return
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return
    for v in (user, password):
        if v:
            register_secret(v)
            register_secret(unquote(v))
    if user is not None:
        plain = f"{unquote(user)}:{unquote(password or '')}"
        for encoding in ("utf-8", "latin-1"):
            try:
                register_secret(base64.b64encode(plain.encode(encoding)).decode("ascii"))
            except UnicodeEncodeError:
                pass


def register_settings(settings: Any, _depth: int = 0) -> None:
    """Remember the credentials in a (nested) settings map: ``api_key`` and other secret-named values,
    header maps (``HEADER_SETTINGS``) and URLs with userinfo."""
    if _depth > 32:
        return
    if isinstance(settings, (dict, AbcMapping)):
        for k, v in settings.items():
            if isinstance(v, str):
                if is_secret_name(str(k)):
                    register_secret(v)
                register_url(v)
            elif isinstance(v, (dict, list, tuple)):
                if isinstance(v, dict) and str(k).lower() in HEADER_SETTINGS:
                    register_headers(v)
                else:
                    register_settings(v, _depth + 1)
    elif isinstance(settings, (list, tuple)):
        for v in settings:
            if isinstance(v, str):
                register_url(v)
            elif isinstance(v, (dict, list, tuple)):
                register_settings(v, _depth + 1)


def known_secrets() -> Tuple[str, ...]:
    """The registered credentials, longest first."""
    return _sorted


def all_secrets() -> List[str]:
    """Registered credentials and provider keys in the environment, longest first."""
    global _merged
    env, registered = _process_environment_secrets(), _sorted
    if not env:
        return list(registered)
    last_env, last_registered, merged = _merged
    if env is not last_env or registered is not last_registered:  # either changed: merge again
        merged = tuple(sorted(set(registered).union(env), key=len, reverse=True))
        _merged = (env, registered, merged)
    return list(merged)


_merged: Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]] = ((), (), ())


# ---------------------------------------------------------------------------------------------
# Scrubbing
# ---------------------------------------------------------------------------------------------


def strip_userinfo(url: Any) -> Any:
    """``url`` without its ``user:password@`` part (other values are returned unchanged)."""
    if not isinstance(url, str) or "@" not in url or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub("", url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def hide(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` (longest first) replaced, and every URL's ``user:password@``: removed
    from a text that is one URL (a stored ``api_base`` stays usable), replaced in any other text."""
    url = "://" in text and "@" in text
    if url and _ONE_URL.match(text):
        text = strip_userinfo(text)
    for s in secrets:
        if s in text:
            text = text.replace(s, REDACTED)
    if url and _USERINFO.search(text):
        text = _USERINFO.sub(REDACTED + "@", text)
    return text


def scrub_text(text: Any) -> Any:
    """``text`` with every known credential replaced by ``"[REDACTED]"`` (non-strings pass unchanged)."""
    return hide(text, all_secrets()) if isinstance(text, str) and text else text


def scrub(value: Any) -> Any:
    """``value`` with every known credential replaced, in strings inside dicts, lists, tuples and
    pydantic models. Copy on write: a part without a credential is returned as the same object."""
    return _scrub(value, all_secrets(), 0)


def _scrub(value: Any, secrets: List[str], depth: int) -> Any:
    if isinstance(value, str):
        return hide(value, secrets) if value else value
    if depth > 64 or value is None or isinstance(value, (bool, int, float, bytes)):
        return value
    if isinstance(value, dict):
        out, changed = {}, False
        for k, v in value.items():
            nk, nv = _scrub(k, secrets, depth + 1), _scrub(v, secrets, depth + 1)
            changed = changed or nk is not k or nv is not v
            out[nk] = nv
        return out if changed else value
    if isinstance(value, (list, tuple)):
        items = [_scrub(v, secrets, depth + 1) for v in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        return type(value)(items) if isinstance(value, list) or type(value) is tuple else items
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, dict) and hasattr(value, "model_copy"):  # a pydantic model
        changes = {}
        for name in fields:
            old = getattr(value, name, None)
            new = _scrub(old, secrets, depth + 1)
            if new is not old:
                changes[name] = new
        return value.model_copy(update=changes) if changes else value
    return value


def scrub_exception(exc: Optional[BaseException]) -> None:
    """Scrub known credentials, in place, from ``exc`` and the exceptions it was raised from: their
    ``args`` and their text, dict and list attributes (a provider SDK's ``message`` or ``body``)."""
    secrets = all_secrets()
    seen: Set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < 16:
        seen.add(id(exc))
        try:
            exc.args = tuple(_scrub(a, secrets, 0) for a in exc.args)
        except Exception:  # noqa: BLE001 - an exception type that refuses new args keeps them
            pass
        for name, value in list(getattr(exc, "__dict__", {}).items()):
            if isinstance(value, (str, dict, list, tuple)):
                new = _scrub(value, secrets, 0)
                if new is not value:
                    try:
                        setattr(exc, name, new)
                    except Exception:  # noqa: BLE001 - a read-only attribute
                        pass
        exc = exc.__cause__ or exc.__context__


# ---------------------------------------------------------------------------------------------
# Log records of the ``lllm`` loggers
# ---------------------------------------------------------------------------------------------


def _scrub_record(record: logging.LogRecord) -> None:
    secrets = all_secrets()
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed call: logging reports it when the record is formatted
        return
    clean = hide(message, secrets)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = hide(text, secrets)
        if clean != text:
            record.exc_text = clean
    if record.stack_info:
        record.stack_info = hide(record.stack_info, secrets)


def _install_record_factory() -> None:
    """Scrub every record of an ``lllm`` logger when it is created (a chained record factory: logger
    filters would not cover child loggers, and the user's handlers are not ours to change)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_lllm_scrubs", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        name = record.name
        if name == "lllm" or name.startswith("lllm."):
            _scrub_record(record)
        return record

    factory._lllm_scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()

__all__ = [
    "REDACTED",
    "MIN_SECRET_LENGTH",
    "NON_CREDENTIAL_HEADERS",
    "HEADER_SETTINGS",
    "register_secret",
    "register_header",
    "register_headers",
    "register_url",
    "register_settings",
    "known_secrets",
    "all_secrets",
    "environment_secrets",
    "is_secret_name",
    "strip_userinfo",
    "hide",
    "scrub_text",
    "scrub",
    "scrub_exception",
]
