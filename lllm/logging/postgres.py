"""PostgreSQL backend (§9.1) for teams whose tactics run on several machines.

Needs the optional dependency ``psycopg`` 3 (``pip install 'lllm[postgres]'``), imported only when a
``PostgresBackend`` is created. Keys use the "C" collation so ordering and prefix ranges are bytewise;
index entries also live in indexed columns (tags as JSONB with a GIN index). Leases expire on the
server's clock, so runners on machines whose clocks differ still agree."""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import unquote, urlsplit

from lllm.logging.backends import (
    _HIGH,
    INDEX_COLUMNS_V3,
    SQL_SCHEMA_VERSION,
    IndexedBackend,
    Lease,
    LogStoreError,
    SessionQuery,
    StoreTimeoutError,
    _like,
    check_lease_args,
    fill_index_v3,
    index_columns,
    index_conditions,
    index_select,
    index_text,
    validate_key,
    validate_prefix,
)
from lllm.secrets import hide

_SCHEMA = [
    'CREATE TABLE IF NOT EXISTS lllm_kv (key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL)',
    "CREATE TABLE IF NOT EXISTS lllm_session_index ("
    ' key TEXT COLLATE "C" PRIMARY KEY, partition TEXT COLLATE "C" NOT NULL,'
    ' session_id TEXT COLLATE "C" NOT NULL, tactic_path TEXT COLLATE "C", state TEXT COLLATE "C",'
    " ts TEXT COLLATE \"C\" NOT NULL, tags JSONB NOT NULL DEFAULT '{}'::jsonb,"
    " tactic_name TEXT COLLATE \"C\" NOT NULL DEFAULT '', total_cost DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " agent_calls INTEGER NOT NULL DEFAULT 0, models TEXT NOT NULL DEFAULT '', task_preview TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS lllm_si_ts ON lllm_session_index (partition, ts, session_id)",
    "CREATE INDEX IF NOT EXISTS lllm_si_path ON lllm_session_index (partition, tactic_path, ts, session_id)",
    "CREATE INDEX IF NOT EXISTS lllm_si_state ON lllm_session_index (partition, state, ts, session_id)",
    "CREATE INDEX IF NOT EXISTS lllm_si_tags ON lllm_session_index USING GIN (tags jsonb_path_ops)",
    'CREATE TABLE IF NOT EXISTS lllm_leases (key TEXT COLLATE "C" PRIMARY KEY, holder TEXT NOT NULL,'
    " expires_at TIMESTAMPTZ NOT NULL)",
]
# Created after the migration has added their columns to an older table.
_INDEXES_V3 = [
    "CREATE INDEX IF NOT EXISTS lllm_si_cost ON lllm_session_index (partition, total_cost, ts, session_id)",
    "CREATE INDEX IF NOT EXISTS lllm_si_calls ON lllm_session_index (partition, agent_calls, ts, session_id)",
    "CREATE INDEX IF NOT EXISTS lllm_si_name ON lllm_session_index (partition, tactic_name, ts, session_id)",
]
_UPSERT = "INSERT INTO lllm_kv (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
# The table schema version; a database without this table is version 1.
_META = "CREATE TABLE IF NOT EXISTS lllm_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"

#: The table schema of a PostgreSQL store: the SQL tables' ``SQL_SCHEMA_VERSION`` (3: the index columns), then
#: 4: a search index for the model and task-text filters, recorded in ``lllm_meta`` as ``search_index``:
#: ``pg_trgm`` (trigram GIN indexes, used by ILIKE '%text%') when the extension is installed or can be, else
#: ``scan`` (no index: the filters scan the partition's rows with ``lower(col) LIKE``, cheaper per row than
#: ILIKE; pg_trgm is tried again on each open).
PG_SCHEMA_VERSION = 4
_TRGM_INDEXES = [
    "CREATE INDEX IF NOT EXISTS lllm_si_task_trgm ON lllm_session_index USING GIN (task_preview {ops})",
    "CREATE INDEX IF NOT EXISTS lllm_si_models_trgm ON lllm_session_index USING GIN (models {ops})",
]
logger = logging.getLogger(__name__)

#: The default bounds, in seconds, of every operation (0 turns one off): ``lock_timeout`` for a wait on a lock
#: another client holds, ``statement_timeout`` for one statement (a stuck or overloaded server), and
#: ``idle_in_transaction_session_timeout``, after which the server ends a session left idle inside a
#: transaction (a frozen client), releasing its locks for the others.
DEFAULT_BOUNDS: Dict[str, float] = {
    "statement_timeout": 60.0,
    "lock_timeout": 30.0,
    "idle_in_transaction_session_timeout": 120.0,
}
_BOUND_RE = re.compile(r"(?:^|\s)(" + "|".join(DEFAULT_BOUNDS) + r")\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")
_TIMEOUT_REASONS = {
    "lock_timeout": "another client held a lock it needed (lock_timeout)",
    "statement_timeout": "a statement ran longer than statement_timeout (a slow or stuck server, or a lock "
    "wait with lock_timeout off)",
    "idle_in_transaction_session_timeout": "the server ended the session, idle inside a transaction "
    "(idle_in_transaction_session_timeout)",
}


def _dsn_passwords(dsn: str) -> List[str]:
    """The password(s) a DSN holds: a URL's userinfo, or a ``password`` keyword or query parameter."""
    found = [m.strip("'") for m in re.findall(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)", dsn)]
    if "://" in dsn:
        try:
            password = urlsplit(dsn).password
        except ValueError:
            password = None
        found += [password, unquote(password)] if password else []
    return sorted({p for p in found if len(p) >= 4}, key=len, reverse=True)  # shorter: would mangle the text


def _split_bounds(dsn: str) -> "tuple[str, Dict[str, str]]":
    """``dsn`` without the lllm bounds (``?lock_timeout=5`` in a URL, ``lock_timeout=5`` in key=value form),
    which libpq would refuse, and those bounds as written."""
    found: Dict[str, str] = {}
    if "://" in dsn:
        base, sep, query = dsn.partition("?")
        query, hash_, fragment = query.partition("#")
        kept = []
        for part in query.split("&") if sep else []:
            name, _, value = part.partition("=")
            if unquote(name) in DEFAULT_BOUNDS:
                found[unquote(name)] = unquote(value)
            elif part:
                kept.append(part)
        return base + ("?" + "&".join(kept) if kept else "") + hash_ + fragment, found

    def take(m: "re.Match[str]") -> str:
        found[m.group(1)] = m.group(2).strip("'")
        return ""

    return _BOUND_RE.sub(take, dsn).strip(), found


def _seconds(name: str, value: Any, where: str) -> float:
    """A bound as seconds (a non-negative finite number; 0 = none), else a ``LogStoreError`` naming it."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        raise LogStoreError(
            f"{name}={value!r} {where} is not a number of seconds: use e.g. {name}={DEFAULT_BOUNDS[name]:g} "
            f"(0 = no bound)."
        )
    return seconds


def _milliseconds(seconds: float) -> str:
    """A bound as PostgreSQL reads it: whole milliseconds, at least 1 unless 0 (off), at most its maximum."""
    return f"{min(2147483647, max(1, round(seconds * 1000)) if seconds else 0)}ms"


def _tags_json(tags: Dict[str, str]) -> str:
    """Tags as the JSONB column holds them (``index_text``: JSONB cannot hold NUL)."""
    return json.dumps({index_text(k): index_text(v) for k, v in tags.items()})


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("PostgresBackend needs psycopg 3: pip install 'lllm[postgres]'") from e
    return psycopg


class PostgresBackend(IndexedBackend):
    """A PostgreSQL database reached by ``dsn`` (a libpq connection string or URL).

    One connection per backend, guarded by a lock (thread-safe); each operation is one transaction.
    A connection the server dropped is reopened on next use; after ``close()`` the backend stays closed.
    The tables are created on first use, under an advisory lock so concurrent starts do not race; an older
    table schema is migrated in place. ``search_index`` says which index serves the text filters.

    Every operation is bounded (seconds, 0 = no bound): ``statement_timeout``, ``lock_timeout`` and
    ``idle_in_transaction_session_timeout``, from the arguments, else the same names in the DSN
    (``postgresql://…/db?lock_timeout=5``), else ``DEFAULT_BOUNDS``. One that trips rolls the operation back
    and raises ``StoreTimeoutError``; ``bounds`` holds the values in force."""

    def __init__(
        self,
        dsn: str,
        connect_timeout: int = 10,
        *,
        statement_timeout: Optional[float] = None,
        lock_timeout: Optional[float] = None,
        idle_in_transaction_session_timeout: Optional[float] = None,
    ):
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._conninfo, written = _split_bounds(dsn)
        given = {
            "statement_timeout": statement_timeout,
            "lock_timeout": lock_timeout,
            "idle_in_transaction_session_timeout": idle_in_transaction_session_timeout,
        }
        self.bounds: Dict[str, float] = {}
        for name, default in DEFAULT_BOUNDS.items():
            if given[name] is not None:
                self.bounds[name] = _seconds(name, given[name], "passed to PostgresBackend")
            elif name in written:
                self.bounds[name] = _seconds(name, written[name], f"in the DSN of the PostgreSQL store {self._where}")
            else:
                self.bounds[name] = default
        self._psycopg = _psycopg()
        self._lock = threading.RLock()
        self._closed = False
        self.search_index = ""  # "pg_trgm" or "scan", set when the tables are checked
        self._conn = self._connect()
        try:
            self._create_tables()
        except BaseException:
            self.close()
            raise

    @property
    def _where(self) -> str:
        """The DSN without its password, to name the store in messages."""
        return hide(self.dsn, _dsn_passwords(self.dsn))

    def _connect(self) -> Any:
        """A new connection with the bounds set; libpq quotes the parts of a DSN it cannot parse, so its error loses
        the password."""
        try:
            conn = self._psycopg.connect(self._conninfo, connect_timeout=self.connect_timeout)
        except self._psycopg.Error as e:
            text = hide(str(e), _dsn_passwords(self.dsn))
            if text == str(e):
                raise
            error = type(e)(text)
        else:
            try:
                settings = ", ".join(f"set_config('{name}', %s, false)" for name in self.bounds)
                conn.execute(f"SELECT {settings}", [_milliseconds(s) for s in self.bounds.values()])
                conn.commit()
            except BaseException:
                conn.close()
                raise
            return conn
        raise error  # outside the except block: the original error, which holds the password, is not chained to it

    def _create_tables(self) -> None:
        """Create what is missing (an older database gains the newer tables); refuse a newer one."""
        with self._tx("opening the store (checking its tables)") as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('lllm_log_store_schema'))")
            cur.execute(_META)
            row = cur.execute("SELECT value FROM lllm_meta WHERE name = 'schema_version'").fetchone()
            version = int(row[0]) if row else 1
            if version > PG_SCHEMA_VERSION:
                raise LogStoreError(
                    f"The PostgreSQL store has table schema version {version}, newer than this lllm "
                    f"supports ({PG_SCHEMA_VERSION}); upgrade lllm to open it."
                )
            for statement in _SCHEMA:
                cur.execute(statement)
            if version < SQL_SCHEMA_VERSION:
                self._migrate_to_3(cur)
            for statement in _INDEXES_V3:
                cur.execute(statement)
            row = cur.execute("SELECT value FROM lllm_meta WHERE name = 'search_index'").fetchone()
            self.search_index = row[0] if row else ""
            if self.search_index != "pg_trgm":  # version 4, or the fallback of an earlier open: try again
                self.search_index = self._create_search_index(cur)
                self._set_meta(cur, "search_index", self.search_index)
            if version < PG_SCHEMA_VERSION:
                self._set_meta(cur, "schema_version", str(PG_SCHEMA_VERSION))

    @staticmethod
    def _set_meta(cur: Any, name: str, value: str) -> None:
        cur.execute(
            "INSERT INTO lllm_meta (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            (name, value),
        )

    def _create_search_index(self, cur: Any) -> str:
        """Trigram indexes for the text filters if ``pg_trgm`` is (or can be) installed, else ``"scan"``."""
        ops, reason = self._trgm_opclass(cur)
        if ops is None:
            logger.warning(
                "PostgreSQL store: %s, so the task-text and model filters have no index: a search that matches "
                "few sessions reads every row of the partition (0.1-0.5 s per 100,000 sessions). For a "
                "trigram index, have a database owner run CREATE EXTENSION pg_trgm; the store builds it on its "
                "next open.",
                reason,
            )
            return "scan"
        cur.execute("SET LOCAL statement_timeout = 0")  # a one-off build that may read many rows
        for statement in _TRGM_INDEXES:
            cur.execute(statement.format(ops=ops))
        return "pg_trgm"

    def _trgm_opclass(self, cur: Any) -> "tuple[Optional[str], str]":
        """``(schema-qualified gin_trgm_ops, "")``, installing ``pg_trgm`` if allowed, or ``(None, why not)``."""
        find = "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
        row = cur.execute(find).fetchone()
        reason = ""
        if row is None:
            if cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone() is None:
                return None, "the server has no pg_trgm extension (it ships with PostgreSQL's contrib modules)"
            try:
                with cur.connection.transaction():  # a savepoint: a refusal leaves the schema work intact
                    cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except self._psycopg.Error as e:
                reason = f"the pg_trgm extension is not installed and this role cannot install it ({str(e).strip()})"
            row = cur.execute(find).fetchone()
        if row is None:
            return None, reason or "the pg_trgm extension is not installed"
        return f"{row[0]}.gin_trgm_ops", ""

    @staticmethod
    def _migrate_to_3(cur: Any) -> None:
        """Add the version-3 index columns to an older table and fill them from the stored entries and sessions."""
        cur.execute("SET LOCAL statement_timeout = 0")  # a one-off migration that may read many rows
        for name, definition in INDEX_COLUMNS_V3.items():
            definition = definition.replace("REAL", "DOUBLE PRECISION")
            cur.execute(f"ALTER TABLE lllm_session_index ADD COLUMN IF NOT EXISTS {name} {definition}")
        fill_index_v3(cur.execute, "%s")

    @contextmanager
    def _tx(self, doing: str) -> Iterator[Any]:
        """One transaction, rolled back if anything in it fails; a bound that trips is a ``StoreTimeoutError``."""
        errors = self._psycopg.errors
        with self._lock:
            if self._closed:
                raise self._psycopg.OperationalError("PostgresBackend is closed")
            if self._conn.closed:  # dropped by the server or the network
                self._conn = self._connect()
            started = time.monotonic()
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield cur
            except errors.LockNotAvailable as e:
                raise self._timeout("lock_timeout", doing) from e
            except errors.QueryCanceled as e:
                # a cancel by an operator (pg_cancel_backend) has the same SQLSTATE, and the server's message is in
                # its own language: a statement cancelled before the bound could have tripped was cancelled
                bound = self.bounds["statement_timeout"]
                if not bound or time.monotonic() - started < bound * 0.9:
                    raise
                raise self._timeout("statement_timeout", doing) from e
            except errors.IdleInTransactionSessionTimeout as e:  # the next operation reconnects
                raise self._timeout("idle_in_transaction_session_timeout", doing) from e

    def _timeout(self, setting: str, doing: str) -> StoreTimeoutError:
        seconds = self.bounds[setting]
        return StoreTimeoutError(
            f"The PostgreSQL store {self._where} gave up {doing} after {seconds:g} s: {_TIMEOUT_REASONS[setting]}. "
            f"That operation was rolled back (nothing of it was written) and the store stays usable. Find what "
            f"holds it up in pg_stat_activity, or wait longer with PostgresBackend(dsn, {setting}=SECONDS) or "
            f"'{setting}=SECONDS' in the store's DSN (?{setting}=SECONDS in a URL; 0 = no bound).",
            store=self._where,
            operation=doing,
            setting=setting,
            timeout=seconds,
        )

    @staticmethod
    def _unindex(cur: Any, key: str) -> None:
        cur.execute("DELETE FROM lllm_session_index WHERE key = %s", (key,))

    @classmethod
    def _put(cls, cur: Any, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, which no longer names an index entry if it did."""
        cur.execute(_UPSERT, (key, bytes(data)))
        cls._unindex(cur, key)

    def put(self, key: str, data: bytes) -> None:
        validate_key(key)
        with self._tx(f"saving '{key}'") as cur:
            self._put(cur, key, data)

    def get(self, key: str) -> Optional[bytes]:
        validate_key(key)
        with self._tx(f"reading '{key}'") as cur:
            row = cur.execute("SELECT value FROM lllm_kv WHERE key = %s", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def list_keys(self, prefix: str = "") -> List[str]:
        validate_prefix(prefix)
        with self._tx(f"listing the keys under '{prefix}'") as cur:
            rows = cur.execute(
                "SELECT key FROM lllm_kv WHERE key >= %s AND key < %s ORDER BY key", (prefix, prefix + _HIGH)
            ).fetchall()
        return [r[0] for r in rows]

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._tx(f"deleting '{key}'") as cur:
            cur.execute("DELETE FROM lllm_kv WHERE key = %s", (key,))
            self._unindex(cur, key)

    def put_index(self, key: str, data: bytes, partition: str, entry: Dict[str, Any]) -> None:
        validate_key(key)
        with self._tx(f"saving the index entry '{key}'") as cur:
            self._put_index(cur, key, data, partition, entry)

    def put_session(
        self, record_key: str, record: bytes, key: str, data: bytes, partition: str, entry: Dict[str, Any]
    ) -> None:
        validate_key(record_key)
        validate_key(key)
        with self._tx(f"saving the session '{record_key}'") as cur:
            self._put(cur, record_key, record)
            self._put_index(cur, key, data, partition, entry)

    @staticmethod
    def _put_index(cur: Any, key: str, data: bytes, partition: str, entry: Dict[str, Any]) -> None:
        cur.execute(_UPSERT, (key, bytes(data)))
        cur.execute(
            "INSERT INTO lllm_session_index (key, partition, session_id, tactic_path, state, ts, tags, "
            "tactic_name, total_cost, agent_calls, models, task_preview) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET "
            "partition = EXCLUDED.partition, session_id = EXCLUDED.session_id, "
            "tactic_path = EXCLUDED.tactic_path, state = EXCLUDED.state, ts = EXCLUDED.ts, tags = EXCLUDED.tags, "
            "tactic_name = EXCLUDED.tactic_name, total_cost = EXCLUDED.total_cost, "
            "agent_calls = EXCLUDED.agent_calls, models = EXCLUDED.models, task_preview = EXCLUDED.task_preview",
            (
                key,
                partition,
                entry["session_id"],
                index_text(entry.get("tactic_path")),
                index_text(entry.get("state")),
                entry["timestamp"],
                _tags_json(entry.get("tags") or {}),
                *index_columns(entry),
            ),
        )

    def query_index(self, query: SessionQuery) -> List[bytes]:
        if self.search_index == "pg_trgm":  # ILIKE '%text%' is what the trigram indexes answer
            where, params = index_conditions(query, "%s", like="ILIKE")
        else:  # a scan: lower() then LIKE is cheaper per row than ILIKE
            where, params = index_conditions(replace(query, text=None, model=None), "%s")
            for column, text in (("s.models", query.model), ("s.task_preview", query.text)):
                if text:
                    where.append(f"lower({column}) LIKE lower(%s) ESCAPE '\\'")
                    params.append(_like(index_text(text)))
        if query.tags:
            where.append("s.tags @> %s::jsonb")
            params.append(_tags_json(query.tags))
        sql, params = index_select(where, params, query, "%s")
        with self._tx(f"listing the sessions of partition '{query.partition}'") as cur:
            rows = cur.execute(sql, params).fetchall()
        return [bytes(r[0]) for r in rows]

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        validate_key(key)
        check_lease_args(holder, ttl)
        with self._tx(f"taking the lease '{key}'") as cur:
            row = cur.execute(
                "INSERT INTO lllm_leases AS l (key, holder, expires_at) "
                "VALUES (%s, %s, clock_timestamp() + make_interval(secs => %s)) "
                "ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at "
                "WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp() RETURNING l.holder",
                (key, holder, float(ttl)),
            ).fetchone()
        return row is not None

    def release_lease(self, key: str, holder: str) -> None:
        validate_key(key)
        with self._tx(f"releasing the lease '{key}'") as cur:
            cur.execute("DELETE FROM lllm_leases WHERE key = %s AND holder = %s", (key, holder))

    def get_lease(self, key: str) -> Optional[Lease]:
        validate_key(key)
        with self._tx(f"reading the lease '{key}'") as cur:
            row = cur.execute(
                "SELECT holder, extract(epoch FROM expires_at) FROM lllm_leases WHERE key = %s", (key,)
            ).fetchone()
        return Lease(row[0], float(row[1])) if row else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()

    def __repr__(self) -> str:
        return "PostgresBackend(<dsn>)"  # the DSN may hold a password


__all__ = ["PostgresBackend", "PG_SCHEMA_VERSION", "DEFAULT_BOUNDS"]
