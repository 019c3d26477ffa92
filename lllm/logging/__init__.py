"""Logging: terminal output (``setup_logging``, §9.4), the session store (``LogStore``, §9.1–9.3),
replay and tracing. Names are imported on first use, so ``import lllm.logging`` stays cheap."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported now: the function shares its module's name, and a lazy lookup would find the module.
from lllm.logging.redact import REDACTED, redact

_EXPORTS = {
    "setup_logging": "terminal",
    "ColoredFormatter": "terminal",
    "LOGGER_NAMES": "terminal",
    "LogBackend": "backends",
    "IndexedBackend": "backends",
    "SessionQuery": "backends",
    "LocalFileBackend": "backends",
    "SQLiteBackend": "backends",
    "NoOpBackend": "backends",
    "Lease": "backends",
    "LogStoreError": "backends",
    "PostgresBackend": "postgres",
    "LogStore": "store",
    "SessionSummary": "store",
    "SessionRecord": "store",
    "STORE_SCHEMA_VERSION": "store",
    "local_store": "store",
    "sqlite_store": "store",
    "noop_store": "store",
    "postgres_store": "store",
    "ReplayInvoker": "replay",
    "rerun": "replay",
    "enable_tracing": "tracing",
    "disable_tracing": "tracing",
}

__all__ = sorted([*_EXPORTS, "redact", "REDACTED"])

if TYPE_CHECKING:  # pragma: no cover
    from lllm.logging.backends import (
        IndexedBackend,
        Lease,
        LocalFileBackend,
        LogBackend,
        LogStoreError,
        NoOpBackend,
        SessionQuery,
        SQLiteBackend,
    )
    from lllm.logging.postgres import PostgresBackend
    from lllm.logging.replay import ReplayInvoker, rerun
    from lllm.logging.store import (
        STORE_SCHEMA_VERSION,
        LogStore,
        SessionRecord,
        SessionSummary,
        local_store,
        noop_store,
        postgres_store,
        sqlite_store,
    )
    from lllm.logging.terminal import LOGGER_NAMES, ColoredFormatter, setup_logging
    from lllm.logging.tracing import disable_tracing, enable_tracing


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lllm.logging' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"lllm.logging.{module}"), name)
    globals()[name] = value
    return value
