"""The SQLite backend (§9.1): the embedded default, one database file (or ``":memory:"``) in WAL mode
with the session index in indexed columns."""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from lllm.logging.backends import (
    _HIGH,
    INDEX_COLUMNS_V3,
    SQL_SCHEMA_VERSION,
    IndexedBackend,
    Lease,
    LogStoreError,
    SessionQuery,
    StoreTimeoutError,
    check_lease_args,
    fill_index_v3,
    index_columns,
    index_conditions,
    index_select,
    index_text,
    is_sqlite_file,
    validate_key,
    validate_prefix,
)

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS lllm_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lllm_session_index (
    key TEXT PRIMARY KEY,
    partition TEXT NOT NULL,
    session_id TEXT NOT NULL,
    tactic_path TEXT,
    state TEXT,
    ts TEXT NOT NULL,
    tactic_name TEXT NOT NULL DEFAULT '',
    total_cost REAL NOT NULL DEFAULT 0,
    agent_calls INTEGER NOT NULL DEFAULT 0,
    models TEXT NOT NULL DEFAULT '',
    task_preview TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lllm_si_ts ON lllm_session_index (partition, ts, session_id);
CREATE INDEX IF NOT EXISTS lllm_si_path ON lllm_session_index (partition, tactic_path, ts, session_id);
CREATE INDEX IF NOT EXISTS lllm_si_state ON lllm_session_index (partition, state, ts, session_id);
CREATE TABLE IF NOT EXISTS lllm_session_tags (
    key TEXT NOT NULL,
    partition TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    ts TEXT NOT NULL,
    PRIMARY KEY (key, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lllm_st_tag ON lllm_session_tags (partition, name, value, ts, key);
CREATE TABLE IF NOT EXISTS lllm_leases (key TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL)
    WITHOUT ROWID;
"""

_PUT = "INSERT OR REPLACE INTO lllm_kv (key, value) VALUES (?, ?)"
# Created after the migration has added their columns to an older table.
_SQLITE_INDEXES_V3 = [
    "CREATE INDEX IF NOT EXISTS lllm_si_cost ON lllm_session_index (partition, total_cost, ts, session_id)",
    "CREATE INDEX IF NOT EXISTS lllm_si_calls ON lllm_session_index (partition, agent_calls, ts, session_id)",
    "CREATE INDEX IF NOT EXISTS lllm_si_name ON lllm_session_index (partition, tactic_name, ts, session_id)",
    # Covers the model and task-text filters, so a search that matches little reads one index, newest first.
    "CREATE INDEX IF NOT EXISTS lllm_si_search ON lllm_session_index (partition, ts, session_id, models, task_preview)",
]


def _busy(e: sqlite3.OperationalError) -> bool:
    """Whether SQLite answered "database is locked" (SQLITE_BUSY or SQLITE_LOCKED, extended codes too)."""
    code = getattr(e, "sqlite_errorcode", None)  # Python 3.11+
    if code is None:  # 3.10: only the message tells ("database is locked", "database table is locked")
        return str(e).startswith(("database is locked", "database table is locked", "database schema is locked"))
    return (code & 0xFF) in (5, 6)


class SQLiteBackend(IndexedBackend):
    """An SQLite database file (or ``":memory:"``) in WAL mode; the embedded default.

    One connection per backend, guarded by a lock, so a backend is safe to share between threads;
    several processes may open the same file. Writes take the lock with ``BEGIN IMMEDIATE`` and wait at most
    ``timeout`` seconds for another connection's write lock, then raise ``StoreTimeoutError`` (nothing of the
    operation written). Prefix listing is a key range, so ``%`` and ``_`` are literal."""

    def __init__(self, path: Union[str, os.PathLike[str]] = ":memory:", timeout: float = 30.0):
        self.path = str(path)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout < math.inf:
            raise LogStoreError(
                f"timeout={timeout!r} for the SQLite store '{self.path}' is not a number of seconds: use e.g. "
                f"timeout=30 (how long a write waits for another connection's lock)."
            )
        self.timeout = float(timeout)
        if self.path != ":memory:":
            _check_sqlite_path(Path(self.path))
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise LogStoreError(
                f"Cannot open the SQLite store '{self.path}': {e}. Pass a file path you can write to."
            ) from e
        try:
            with self._lock, self._bounded("opening the store (checking its tables)"):
                self._use_wal()
                self._conn.execute("PRAGMA synchronous=NORMAL")
                with self._write("opening the store (checking its tables)") as c:
                    version = c.execute("PRAGMA user_version").fetchone()[0]
                    if version > SQL_SCHEMA_VERSION:
                        raise LogStoreError(
                            f"The SQLite store '{self.path}' has table schema version {version}, newer than this "
                            f"lllm supports ({SQL_SCHEMA_VERSION}); upgrade lllm to open it."
                        )
                    for statement in _SQLITE_SCHEMA.split(";"):
                        if statement.strip():
                            c.execute(statement)
                    if version < 3:
                        self._migrate_to_3(c)
                    for statement in _SQLITE_INDEXES_V3:
                        c.execute(statement)
                    if version < SQL_SCHEMA_VERSION:
                        c.execute(f"PRAGMA user_version = {SQL_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            self._conn.close()
            folder = Path(self.path).parent
            if self.path != ":memory:" and Path(self.path).is_file() and not os.access(folder, os.W_OK):
                raise LogStoreError(
                    f"The SQLite store '{self.path}' is in a read-only folder ({e}): SQLite writes its -wal and "
                    f"-shm files beside the database, even to read it. Copy the file to a folder you can write to "
                    f"and open the copy."
                ) from e
            raise LogStoreError(
                f"The SQLite store '{self.path}' cannot be used: {e}. It was left untouched; "
                f"point the store at a new file (e.g. sessions.db), or at a folder for a JSON "
                f"store."
            ) from e
        except BaseException:
            self._conn.close()
            raise

    def _use_wal(self) -> None:
        """Switch the file to WAL, retrying "database is locked" until ``timeout``: processes opening one new
        file at once can get it at once, as SQLite does not wait where waiting could deadlock."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if not _busy(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    @staticmethod
    def _migrate_to_3(c: sqlite3.Connection) -> None:
        """Add the version-3 index columns to an older table and fill them from the stored entries and sessions."""
        have = {r[1] for r in c.execute("PRAGMA table_info(lllm_session_index)")}
        for name, definition in INDEX_COLUMNS_V3.items():
            if name not in have:
                c.execute(f"ALTER TABLE lllm_session_index ADD COLUMN {name} {definition}")
        fill_index_v3(c.execute, "?")

    @contextmanager
    def _bounded(self, doing: str) -> Iterator[None]:
        """Turn SQLite's "database is locked" (the busy timeout ran out) into a ``StoreTimeoutError``."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if not _busy(e):
                raise
            raise StoreTimeoutError(
                f"The SQLite store '{self.path}' gave up {doing} after {self.timeout:g} s: another connection "
                f"held its write lock ({e}). Nothing of that operation was written and the store stays usable. "
                f"Finish or close the other writer (another lllm process, an sqlite3 shell inside a transaction), "
                f"or wait longer with SQLiteBackend(path, timeout=SECONDS).",
                store=self.path,
                operation=doing,
                setting="timeout",
                timeout=self.timeout,
            ) from e

    @contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._bounded(doing):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (SQLITE_FULL, IOERR): a second ROLLBACK would
                # raise and hide the real error.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Tuple[Any, ...] = (), doing: str = "reading") -> List[Tuple[Any, ...]]:
        with self._lock, self._bounded(doing):
            return self._conn.execute(sql, params).fetchall()

    @staticmethod
    def _unindex(c: sqlite3.Connection, key: str) -> None:
        c.execute("DELETE FROM lllm_session_index WHERE key = ?", (key,))
        c.execute("DELETE FROM lllm_session_tags WHERE key = ?", (key,))

    @classmethod
    def _put(cls, c: sqlite3.Connection, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, which no longer names an index entry if it did."""
        c.execute(_PUT, (key, bytes(data)))
        cls._unindex(c, key)

    def put(self, key: str, data: bytes) -> None:
        validate_key(key)
        with self._write(f"saving '{key}'") as c:
            self._put(c, key, data)

    def get(self, key: str) -> Optional[bytes]:
        rows = self._read("SELECT value FROM lllm_kv WHERE key = ?", (validate_key(key),), f"reading '{key}'")
        return bytes(rows[0][0]) if rows else None

    def list_keys(self, prefix: str = "") -> List[str]:
        validate_prefix(prefix)
        rows = self._read(
            "SELECT key FROM lllm_kv WHERE key >= ? AND key < ? ORDER BY key",
            (prefix, prefix + _HIGH),
            f"listing the keys under '{prefix}'",
        )
        return [r[0] for r in rows]

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._write(f"deleting '{key}'") as c:
            c.execute("DELETE FROM lllm_kv WHERE key = ?", (key,))
            self._unindex(c, key)

    def put_index(self, key: str, data: bytes, partition: str, entry: Dict[str, Any]) -> None:
        validate_key(key)
        with self._write(f"saving the index entry '{key}'") as c:
            self._put_index(c, key, data, partition, entry)

    def put_session(
        self, record_key: str, record: bytes, key: str, data: bytes, partition: str, entry: Dict[str, Any]
    ) -> None:
        validate_key(record_key)
        validate_key(key)
        with self._write(f"saving the session '{record_key}'") as c:
            self._put(c, record_key, record)
            self._put_index(c, key, data, partition, entry)

    @classmethod
    def _put_index(cls, c: sqlite3.Connection, key: str, data: bytes, partition: str, entry: Dict[str, Any]) -> None:
        ts = entry["timestamp"]
        c.execute(_PUT, (key, bytes(data)))
        cls._unindex(c, key)
        c.execute(
            "INSERT INTO lllm_session_index (key, partition, session_id, tactic_path, state, ts, tactic_name, "
            "total_cost, agent_calls, models, task_preview) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                partition,
                entry["session_id"],
                index_text(entry.get("tactic_path")),
                index_text(entry.get("state")),
                ts,
                *index_columns(entry),
            ),
        )
        c.executemany(
            "INSERT INTO lllm_session_tags (key, partition, name, value, ts) VALUES (?, ?, ?, ?, ?)",
            [(key, partition, index_text(k), index_text(v), ts) for k, v in (entry.get("tags") or {}).items()],
        )

    def query_index(self, query: SessionQuery) -> List[bytes]:
        where, params = index_conditions(query, "?")
        for name, value in query.tags.items():
            where.append(
                "s.key IN (SELECT t.key FROM lllm_session_tags t WHERE t.partition = ? AND t.name = ? AND t.value = ?)"
            )
            params += [query.partition, index_text(name), index_text(value)]
        sql, params = index_select(where, params, query, "?")
        doing = f"listing the sessions of partition '{query.partition}'"
        return [bytes(r[0]) for r in self._read(sql, tuple(params), doing)]

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        validate_key(key)
        check_lease_args(holder, ttl)
        now = time.time()
        with self._write(f"taking the lease '{key}'") as c:
            c.execute(
                "INSERT INTO lllm_leases (key, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE lllm_leases.holder = excluded.holder OR lllm_leases.expires_at <= ?",
                (key, holder, now + ttl, now),
            )
            changed: int = c.execute("SELECT changes()").fetchone()[0]
            return changed == 1

    def release_lease(self, key: str, holder: str) -> None:
        validate_key(key)
        with self._write(f"releasing the lease '{key}'") as c:
            c.execute("DELETE FROM lllm_leases WHERE key = ? AND holder = ?", (key, holder))

    def get_lease(self, key: str) -> Optional[Lease]:
        rows = self._read(
            "SELECT holder, expires_at FROM lllm_leases WHERE key = ?",
            (validate_key(key),),
            f"reading the lease '{key}'",
        )
        return Lease(rows[0][0], float(rows[0][1])) if rows else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.path!r})"


def _check_sqlite_path(path: Path) -> None:
    """Refuse, before SQLite opens it, a path that is a folder or a non-empty file that is not SQLite."""
    if path.is_dir():
        raise LogStoreError(
            f"The SQLite store path '{path}' is a folder. Pass a file path (e.g. "
            f"'{path / 'sessions.db'}'), or use local_store('{path}') for a JSON store in it."
        )
    if path.is_file() and path.stat().st_size > 0 and not is_sqlite_file(path):
        raise LogStoreError(
            f"The SQLite store path '{path}' is not an SQLite database (it was left untouched). "
            f"Point the store at a new file (e.g. sessions.db), or at a folder for a JSON store."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LogStoreError(f"Cannot create the folder of the SQLite store '{path}': {e.strerror or e}.") from e


__all__ = ["SQLiteBackend"]
