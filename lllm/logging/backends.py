"""Key/value backends for the session store (§9.1): local files, SQLite, and a no-op.

A backend stores bytes under keys made of ``/``-joined ``[A-Za-z0-9._-]`` segments (never ``..``, and
no segment is ``.``).
Backends that subclass ``IndexedBackend`` also keep each session's index entry in indexed columns,
so ``LogStore.list_sessions`` becomes one query instead of a read of every entry."""
from __future__ import annotations

import os
import re
import secrets
import sqlite3
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_PREFIX = re.compile(r"[A-Za-z0-9._/-]*")
# Every allowed key character sorts below this one, so [prefix, prefix + _HIGH) is a literal prefix range.
_HIGH = "\x7f"


def is_segment(value: Any) -> bool:
    """Whether ``value`` is one key segment: ``[A-Za-z0-9._-]+``, without ``..`` and not ``.`` (a file
    path would drop it, so ``a/./b`` would be the same file as ``a/b``)."""
    return isinstance(value, str) and value != "." and ".." not in value and bool(_SEGMENT.fullmatch(value))


def validate_key(key: str) -> str:
    """``key`` itself if it is ``/``-joined segments (``is_segment``), else ``ValueError``."""
    if not isinstance(key, str) or not all(is_segment(s) for s in key.split("/")):
        raise ValueError(f"Invalid log key {key!r}: use '/'-joined segments of [A-Za-z0-9._-], "
                         f"without '..' and other than '.'")
    return key


def validate_prefix(prefix: str) -> str:
    """A key prefix: the key characters and ``/`` only, without ``..`` (it may end mid-segment)."""
    if not isinstance(prefix, str) or ".." in prefix or not _PREFIX.fullmatch(prefix):
        raise ValueError(f"Invalid log key prefix {prefix!r}: use [A-Za-z0-9._-] and '/', without '..'")
    return prefix


class LogBackend(ABC):
    """Bytes under validated keys. ``get`` of an absent key is ``None``; ``delete`` of one is silent."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous value."""

    @abstractmethod
    def get(self, key: str) -> Optional[bytes]:
        """The bytes under ``key``, or ``None``."""

    @abstractmethod
    def list_keys(self, prefix: str = "") -> List[str]:
        """Every key starting with ``prefix`` (a literal string prefix), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; silent if absent."""

    def close(self) -> None:
        """Release connections or handles (no-op by default)."""


@dataclass(frozen=True)
class SessionQuery:
    """``list_sessions`` in backend terms: ANDed filters, newest first (``timestamp``, then
    ``session_id``), then ``limit``. Times are ISO-8601 UTC strings as in the index entries; bounds
    are inclusive; ``tactic_paths`` matches any of its values (empty: no filter)."""

    partition: str
    tags: Dict[str, str] = field(default_factory=dict)
    after: Optional[str] = None
    before: Optional[str] = None
    tactic_paths: Tuple[str, ...] = ()
    state: Optional[str] = None
    limit: Optional[int] = None


class IndexedBackend(LogBackend):
    """A backend that answers session listings natively from indexed columns.

    ``put_index`` writes an index entry both as the value of ``key`` (so the key/value view stays
    complete) and as a row of the index; ``delete(key)`` and ``put(key, …)`` drop that row."""

    @abstractmethod
    def put_index(self, key: str, data: bytes, partition: str, entry: Dict[str, Any]) -> None:
        """Store ``data`` under ``key`` and index ``entry`` (session_id, tactic_path, state,
        timestamp, tags) for ``partition``, atomically."""

    @abstractmethod
    def query_index(self, query: SessionQuery) -> List[bytes]:
        """The stored index entries matching ``query``, newest first, at most ``query.limit``."""


def index_conditions(query: SessionQuery, placeholder: str) -> Tuple[List[str], List[Any]]:
    """SQL conditions (on the index table as ``s``) and parameters for every filter but tags, which
    each SQL backend indexes its own way."""
    where, params = [f"s.partition = {placeholder}"], [query.partition]
    if query.tactic_paths:
        where.append(f"s.tactic_path IN ({', '.join([placeholder] * len(query.tactic_paths))})")
        params += query.tactic_paths
    for condition, value in (("s.state =", query.state), ("s.ts >=", query.after), ("s.ts <=", query.before)):
        if value is not None:
            where.append(f"{condition} {placeholder}")
            params.append(value)
    return where, params


def index_select(where: List[str], params: List[Any], limit: Optional[int], placeholder: str) -> Tuple[str, List[Any]]:
    """The stored index entries matching ``where``, newest first, then ``limit``."""
    sql = (f"SELECT kv.value FROM lllm_session_index s JOIN lllm_kv kv ON kv.key = s.key "
           f"WHERE {' AND '.join(where)} ORDER BY s.ts DESC, s.session_id DESC")
    if limit is not None:
        return f"{sql} LIMIT {placeholder}", [*params, limit]
    return sql, params


# ---------------------------------------------------------------------------------------------
# Local files
# ---------------------------------------------------------------------------------------------
class LocalFileBackend(LogBackend):
    """One file per key under ``root``. Writes are atomic: a temp file in the same directory is
    fsynced, then renamed over the target, so a reader (or a crash) never sees a partial file.

    Temp names contain ``~``, which no key can, so leftovers of a killed writer are never listed."""

    def __init__(self, root: Union[str, os.PathLike]):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}~{secrets.token_hex(6)}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    def get(self, key: str) -> Optional[bytes]:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def list_keys(self, prefix: str = "") -> List[str]:
        validate_prefix(prefix)
        # Walk only the deepest directory the prefix names in full.
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*base.split("/")) if base else self.root
        keys = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            dirnames[:] = [d for d in dirnames if is_segment(d) and (rel + d).startswith(prefix[:len(rel + d)])]
            keys += [rel + n for n in filenames if is_segment(n) and (rel + n).startswith(prefix)]
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            pass

    def __repr__(self) -> str:
        return f"LocalFileBackend({str(self.root)!r})"


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# SQLite
# ---------------------------------------------------------------------------------------------
_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS lllm_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lllm_session_index (
    key TEXT PRIMARY KEY,
    partition TEXT NOT NULL,
    session_id TEXT NOT NULL,
    tactic_path TEXT,
    state TEXT,
    ts TEXT NOT NULL
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
"""


class SQLiteBackend(IndexedBackend):
    """An SQLite database file (or ``":memory:"``) in WAL mode; the embedded default.

    One connection per backend, guarded by a lock, so a backend is safe to share between threads;
    several processes may open the same file (writes take the lock with ``BEGIN IMMEDIATE`` and wait
    up to ``timeout`` seconds). Prefix listing is a key range, so ``%`` and ``_`` are literal."""

    def __init__(self, path: Union[str, os.PathLike] = ":memory:", timeout: float = 30.0):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._write() as c:
                for statement in _SQLITE_SCHEMA.split(";"):
                    if statement.strip():
                        c.execute(statement)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
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

    def _read(self, sql: str, params: Tuple[Any, ...] = ()) -> List[Tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    @staticmethod
    def _unindex(c: sqlite3.Connection, key: str) -> None:
        c.execute("DELETE FROM lllm_session_index WHERE key = ?", (key,))
        c.execute("DELETE FROM lllm_session_tags WHERE key = ?", (key,))

    def put(self, key: str, data: bytes) -> None:
        validate_key(key)
        with self._write() as c:
            c.execute("INSERT OR REPLACE INTO lllm_kv (key, value) VALUES (?, ?)", (key, bytes(data)))
            self._unindex(c, key)

    def get(self, key: str) -> Optional[bytes]:
        rows = self._read("SELECT value FROM lllm_kv WHERE key = ?", (validate_key(key),))
        return bytes(rows[0][0]) if rows else None

    def list_keys(self, prefix: str = "") -> List[str]:
        validate_prefix(prefix)
        rows = self._read("SELECT key FROM lllm_kv WHERE key >= ? AND key < ? ORDER BY key", (prefix, prefix + _HIGH))
        return [r[0] for r in rows]

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._write() as c:
            c.execute("DELETE FROM lllm_kv WHERE key = ?", (key,))
            self._unindex(c, key)

    def put_index(self, key: str, data: bytes, partition: str, entry: Dict[str, Any]) -> None:
        validate_key(key)
        ts = entry["timestamp"]
        with self._write() as c:
            c.execute("INSERT OR REPLACE INTO lllm_kv (key, value) VALUES (?, ?)", (key, bytes(data)))
            self._unindex(c, key)
            c.execute("INSERT INTO lllm_session_index (key, partition, session_id, tactic_path, state, ts) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (key, partition, entry["session_id"], entry.get("tactic_path"), entry.get("state"), ts))
            c.executemany("INSERT INTO lllm_session_tags (key, partition, name, value, ts) VALUES (?, ?, ?, ?, ?)",
                          [(key, partition, k, v, ts) for k, v in (entry.get("tags") or {}).items()])

    def query_index(self, query: SessionQuery) -> List[bytes]:
        where, params = index_conditions(query, "?")
        for name, value in query.tags.items():
            where.append("s.key IN (SELECT t.key FROM lllm_session_tags t "
                         "WHERE t.partition = ? AND t.name = ? AND t.value = ?)")
            params += [query.partition, name, value]
        sql, params = index_select(where, params, query.limit, "?")
        return [bytes(r[0]) for r in self._read(sql, tuple(params))]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.path!r})"


# ---------------------------------------------------------------------------------------------
# No-op
# ---------------------------------------------------------------------------------------------
class NoOpBackend(LogBackend):
    """Stores nothing (keys are still validated): for runs that must not be recorded."""

    def put(self, key: str, data: bytes) -> None:
        validate_key(key)

    def get(self, key: str) -> Optional[bytes]:
        validate_key(key)
        return None

    def list_keys(self, prefix: str = "") -> List[str]:
        validate_prefix(prefix)
        return []

    def delete(self, key: str) -> None:
        validate_key(key)

    def __repr__(self) -> str:
        return "NoOpBackend()"


__all__ = ["LogBackend", "IndexedBackend", "SessionQuery", "LocalFileBackend", "SQLiteBackend", "NoOpBackend",
           "validate_key", "validate_prefix", "is_segment"]
