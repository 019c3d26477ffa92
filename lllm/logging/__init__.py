"""Logging: terminal output (``setup_logging``, §9.4) and the session store (``LogStore``, §9.1–9.3)."""
from __future__ import annotations

from lllm.logging.backends import (IndexedBackend, LocalFileBackend, LogBackend, NoOpBackend, SessionQuery,
                                   SQLiteBackend)
from lllm.logging.postgres import PostgresBackend  # psycopg itself is imported only when one is created
from lllm.logging.redact import REDACTED, redact
from lllm.logging.store import (STORE_SCHEMA_VERSION, LogStore, SessionRecord, SessionSummary, local_store,
                                noop_store, postgres_store, sqlite_store)
from lllm.logging.terminal import LOGGER_NAMES, ColoredFormatter, setup_logging

__all__ = ["setup_logging", "ColoredFormatter", "LOGGER_NAMES",
           "LogBackend", "IndexedBackend", "SessionQuery", "LocalFileBackend", "SQLiteBackend", "NoOpBackend",
           "PostgresBackend", "LogStore", "SessionSummary", "SessionRecord", "STORE_SCHEMA_VERSION",
           "local_store", "sqlite_store", "noop_store", "postgres_store", "redact", "REDACTED"]
