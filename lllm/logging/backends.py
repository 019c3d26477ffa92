"""Key/value backends for the session store (§9.1): local files, SQLite, and a no-op.

A backend stores bytes under keys made of ``/``-joined ``[A-Za-z0-9._-]`` segments (never ``..``, and
no segment is ``.``).
Backends that subclass ``IndexedBackend`` also keep each session's index entry in indexed columns,
so ``LogStore.list_sessions`` becomes one query instead of a read of every entry.

Every storing backend also keeps leases (``acquire_lease``/``release_lease``/``get_lease``): a holder
id and an expiry per key, in a namespace of their own, taken atomically across threads and processes.
Batches use them so that two runners of one batch never run the same task at once."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from lllm.errors import LLLMError

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
        raise ValueError(
            f"Invalid log key {key!r}: use '/'-joined segments of [A-Za-z0-9._-], without '..' and other than '.'"
        )
    return key


def validate_prefix(prefix: str) -> str:
    """A key prefix: the key characters and ``/`` only, without ``..`` (it may end mid-segment)."""
    if not isinstance(prefix, str) or ".." in prefix or not _PREFIX.fullmatch(prefix):
        raise ValueError(f"Invalid log key prefix {prefix!r}: use [A-Za-z0-9._-] and '/', without '..'")
    return prefix


class LogStoreError(LLLMError, ValueError):
    """A store that cannot be opened or used as asked; the message names the store and what to do."""


@dataclass(frozen=True)
class Lease:
    """Who holds a lease and until when (epoch seconds on the store's clock; it may have passed)."""

    holder: str
    expires_at: float


def check_lease_args(holder: str, ttl: float) -> None:
    """``ValueError`` unless ``holder`` is a non-empty string and ``ttl`` a finite number of seconds > 0."""
    if not isinstance(holder, str) or not holder:
        raise ValueError(f"Invalid lease holder {holder!r}: use a non-empty string")
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"Invalid lease ttl {ttl!r}: use a number of seconds > 0")


SQLITE_MAGIC = b"SQLite format 3\x00"


def _is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


class LogBackend(ABC):
    """Bytes under validated keys. ``get`` of an absent key is ``None``; ``delete`` of one is silent.

    Leases live in a namespace of their own: a lease on ``k`` is not a key ``k``. A backend without
    them raises ``LogStoreError`` from the three lease methods."""

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

    def close(self) -> None:  # noqa: B027 - an optional hook, a no-op by default
        """Release connections or handles (no-op by default)."""

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        """Atomically take or renew the lease on ``key`` for ``holder`` for ``ttl`` seconds. ``True``
        if ``holder`` holds it now (it was free, expired, or already ``holder``'s), else ``False``."""
        raise LogStoreError(f"{self!r} does not support leases; implement acquire_lease, release_lease and get_lease")

    def release_lease(self, key: str, holder: str) -> None:
        """Drop ``holder``'s lease on ``key``; silent if ``holder`` does not hold it."""
        raise LogStoreError(f"{self!r} does not support leases; implement acquire_lease, release_lease and get_lease")

    def get_lease(self, key: str) -> Optional[Lease]:
        """The lease on ``key`` (possibly expired), or ``None``."""
        raise LogStoreError(f"{self!r} does not support leases; implement acquire_lease, release_lease and get_lease")


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
    sql = (
        f"SELECT kv.value FROM lllm_session_index s JOIN lllm_kv kv ON kv.key = s.key "
        f"WHERE {' AND '.join(where)} ORDER BY s.ts DESC, s.session_id DESC"
    )
    if limit is not None:
        return f"{sql} LIMIT {placeholder}", [*params, limit]
    return sql, params


# ---------------------------------------------------------------------------------------------
# Local files
# ---------------------------------------------------------------------------------------------
class LocalFileBackend(LogBackend):
    """One file per key under ``root``. Writes are atomic: a temp file in the same directory is
    fsynced, then renamed over the target, so a reader (or a crash) never sees a partial file.

    Temp names contain ``~``, which no key can, so leftovers of a killed writer are never listed; for the
    same reason leases live in ``~leases/`` as small JSON files, changed under an exclusive lock of
    ``~leases.lock`` (``fcntl.flock``: POSIX, local file systems)."""

    def __init__(self, root: Union[str, os.PathLike]):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            kind = "an SQLite database: open it with sqlite_store(path)" if _is_sqlite_file(self.root) else "a file"
            raise LogStoreError(
                f"The JSON store path '{self.root}' is {kind}, not a folder; it was left untouched. "
                f"Pass a folder (new or existing) for a JSON store, or a .db file for SQLite."
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LogStoreError(
                f"Cannot create the JSON store folder '{self.root}': {e.strerror or e}. Pass a folder you can write to."
            ) from e
        self._lease_mutex = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        _atomic_write(self._path(key), data)

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
            dirnames[:] = [d for d in dirnames if is_segment(d) and (rel + d).startswith(prefix[: len(rel + d)])]
            keys += [rel + n for n in filenames if is_segment(n) and (rel + n).startswith(prefix)]
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            pass

    # -- leases ----------------------------------------------------------------------------------
    def _lease_path(self, key: str) -> Path:
        """One flat folder; ``+`` (never in a key) stands for ``/``, so ``a/b`` and ``a/b/c`` can both exist."""
        return self.root / "~leases" / validate_key(key).replace("/", "+")

    @contextmanager
    def _lease_lock(self) -> Iterator[None]:
        """Exclusive across threads (the mutex) and processes (``flock`` on ``~leases.lock``)."""
        import fcntl

        with self._lease_mutex:
            fd = os.open(self.root / "~leases.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # drops the lock

    def _read_lease(self, path: Path) -> Optional[Lease]:
        try:
            data = json.loads(path.read_bytes())
            return Lease(str(data["holder"]), float(data["expires_at"]))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, KeyError, TypeError):  # a torn or foreign file: treat it as expired
            return Lease("", 0.0)

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        path = self._lease_path(key)
        check_lease_args(holder, ttl)
        with self._lease_lock():
            current, now = self._read_lease(path), time.time()
            if current is not None and current.holder != holder and current.expires_at > now:
                return False
            _atomic_write(path, json.dumps({"holder": holder, "expires_at": now + ttl}).encode())
            return True

    def release_lease(self, key: str, holder: str) -> None:
        path = self._lease_path(key)
        with self._lease_lock():
            current = self._read_lease(path)
            if current is not None and current.holder == holder:
                path.unlink(missing_ok=True)

    def get_lease(self, key: str) -> Optional[Lease]:
        path = self._lease_path(key)
        with self._lease_lock():
            return self._read_lease(path)

    def __repr__(self) -> str:
        return f"LocalFileBackend({str(self.root)!r})"


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, rename it over ``path``."""
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
CREATE TABLE IF NOT EXISTS lllm_leases (key TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL)
    WITHOUT ROWID;
"""

#: Version of the SQL tables (``PRAGMA user_version`` in SQLite; 0 means 1): 1 = key/value, session
#: index and tags; 2 = + ``lllm_leases``. Opening an older database adds what is missing.
SQL_SCHEMA_VERSION = 2


class SQLiteBackend(IndexedBackend):
    """An SQLite database file (or ``":memory:"``) in WAL mode; the embedded default.

    One connection per backend, guarded by a lock, so a backend is safe to share between threads;
    several processes may open the same file (writes take the lock with ``BEGIN IMMEDIATE`` and wait
    up to ``timeout`` seconds). Prefix listing is a key range, so ``%`` and ``_`` are literal."""

    def __init__(self, path: Union[str, os.PathLike] = ":memory:", timeout: float = 30.0):
        self.path = str(path)
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
            with self._lock:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                with self._write() as c:
                    version = c.execute("PRAGMA user_version").fetchone()[0]
                    if version > SQL_SCHEMA_VERSION:
                        raise LogStoreError(
                            f"The SQLite store '{self.path}' has table schema version {version}, newer than this "
                            f"lllm supports ({SQL_SCHEMA_VERSION}); upgrade lllm to open it."
                        )
                    for statement in _SQLITE_SCHEMA.split(";"):
                        if statement.strip():
                            c.execute(statement)
                    if version < SQL_SCHEMA_VERSION:
                        c.execute(f"PRAGMA user_version = {SQL_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise LogStoreError(
                f"The SQLite store '{self.path}' cannot be used: {e}. It was left untouched; "
                f"point the store at a new file (e.g. sessions.db), or at a folder for a JSON "
                f"store."
            ) from e
        except BaseException:
            self._conn.close()
            raise

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
            c.execute(
                "INSERT INTO lllm_session_index (key, partition, session_id, tactic_path, state, ts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, partition, entry["session_id"], entry.get("tactic_path"), entry.get("state"), ts),
            )
            c.executemany(
                "INSERT INTO lllm_session_tags (key, partition, name, value, ts) VALUES (?, ?, ?, ?, ?)",
                [(key, partition, k, v, ts) for k, v in (entry.get("tags") or {}).items()],
            )

    def query_index(self, query: SessionQuery) -> List[bytes]:
        where, params = index_conditions(query, "?")
        for name, value in query.tags.items():
            where.append(
                "s.key IN (SELECT t.key FROM lllm_session_tags t WHERE t.partition = ? AND t.name = ? AND t.value = ?)"
            )
            params += [query.partition, name, value]
        sql, params = index_select(where, params, query.limit, "?")
        return [bytes(r[0]) for r in self._read(sql, tuple(params))]

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        validate_key(key)
        check_lease_args(holder, ttl)
        now = time.time()
        with self._write() as c:
            c.execute(
                "INSERT INTO lllm_leases (key, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE lllm_leases.holder = excluded.holder OR lllm_leases.expires_at <= ?",
                (key, holder, now + ttl, now),
            )
            return c.execute("SELECT changes()").fetchone()[0] == 1

    def release_lease(self, key: str, holder: str) -> None:
        validate_key(key)
        with self._write() as c:
            c.execute("DELETE FROM lllm_leases WHERE key = ? AND holder = ?", (key, holder))

    def get_lease(self, key: str) -> Optional[Lease]:
        rows = self._read("SELECT holder, expires_at FROM lllm_leases WHERE key = ?", (validate_key(key),))
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
    if path.is_file() and path.stat().st_size > 0 and not _is_sqlite_file(path):
        raise LogStoreError(
            f"The SQLite store path '{path}' is not an SQLite database (it was left untouched). "
            f"Point the store at a new file (e.g. sessions.db), or at a folder for a JSON store."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LogStoreError(f"Cannot create the folder of the SQLite store '{path}': {e.strerror or e}.") from e


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

    def _no_leases(self) -> LogStoreError:
        return LogStoreError(
            "The no-op store records nothing, so it keeps no leases and cannot resume or share a "
            "batch: use sqlite_store, local_store or postgres_store."
        )

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        raise self._no_leases()

    def release_lease(self, key: str, holder: str) -> None:
        raise self._no_leases()

    def get_lease(self, key: str) -> Optional[Lease]:
        raise self._no_leases()

    def __repr__(self) -> str:
        return "NoOpBackend()"


__all__ = [
    "LogBackend",
    "IndexedBackend",
    "SessionQuery",
    "LocalFileBackend",
    "SQLiteBackend",
    "NoOpBackend",
    "Lease",
    "LogStoreError",
    "SQL_SCHEMA_VERSION",
    "check_lease_args",
    "validate_key",
    "validate_prefix",
    "is_segment",
]
