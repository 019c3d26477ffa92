"""Logging: terminal output (``setup_logging``, §9.4), the session store (``LogStore``, §9.1–9.3),
replay and tracing. Names are imported on first use, so ``import lllm.logging`` stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lllm.lazy import lazy_exports as _lazy_exports

# Imported now: the function shares its module's name, and a lazy lookup would find the module.
from lllm.logging.redact import REDACTED as REDACTED, redact as redact

_EXPORTS = {
    "setup_logging": "terminal",
    "ColoredFormatter": "terminal",
    "LOGGER_NAMES": "terminal",
    "LogBackend": "backends",
    "IndexedBackend": "backends",
    "SessionQuery": "backends",
    "LocalFileBackend": "file_backend",
    "SQLiteBackend": "sqlite",
    "NoOpBackend": "backends",
    "Lease": "backends",
    "LogStoreError": "backends",
    "StoreTimeoutError": "backends",
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

# Spelled out, not built from _EXPORTS, so type checkers read it; tests/logging/test_exports.py keeps the two in step.
__all__ = [
    "ColoredFormatter",
    "IndexedBackend",
    "LOGGER_NAMES",
    "Lease",
    "LocalFileBackend",
    "LogBackend",
    "LogStore",
    "LogStoreError",
    "NoOpBackend",
    "PostgresBackend",
    "REDACTED",
    "ReplayInvoker",
    "SQLiteBackend",
    "STORE_SCHEMA_VERSION",
    "SessionQuery",
    "SessionRecord",
    "SessionSummary",
    "StoreTimeoutError",
    "disable_tracing",
    "enable_tracing",
    "local_store",
    "noop_store",
    "postgres_store",
    "redact",
    "rerun",
    "setup_logging",
    "sqlite_store",
]

if TYPE_CHECKING:  # pragma: no cover - lets type checkers see the lazily imported names as exports
    from lllm.logging.backends import (
        IndexedBackend as IndexedBackend,
        Lease as Lease,
        LogBackend as LogBackend,
        LogStoreError as LogStoreError,
        NoOpBackend as NoOpBackend,
        SessionQuery as SessionQuery,
        StoreTimeoutError as StoreTimeoutError,
    )
    from lllm.logging.file_backend import LocalFileBackend as LocalFileBackend
    from lllm.logging.postgres import PostgresBackend as PostgresBackend
    from lllm.logging.replay import ReplayInvoker as ReplayInvoker, rerun as rerun
    from lllm.logging.sqlite import SQLiteBackend as SQLiteBackend
    from lllm.logging.store import (
        STORE_SCHEMA_VERSION as STORE_SCHEMA_VERSION,
        LogStore as LogStore,
        SessionRecord as SessionRecord,
        SessionSummary as SessionSummary,
        local_store as local_store,
        noop_store as noop_store,
        postgres_store as postgres_store,
        sqlite_store as sqlite_store,
    )
    from lllm.logging.terminal import (
        LOGGER_NAMES as LOGGER_NAMES,
        ColoredFormatter as ColoredFormatter,
        setup_logging as setup_logging,
    )
    from lllm.logging.tracing import disable_tracing as disable_tracing, enable_tracing as enable_tracing


__getattr__ = _lazy_exports(__name__, {name: f"lllm.logging.{module}" for name, module in _EXPORTS.items()})
