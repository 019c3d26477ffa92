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
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple, Union

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


#: Version of the stored records (session, index entry, error): 1 = the first; 2 = index entries also carry
#: ``models`` and ``task_preview``. Bump it with a migration (``LogStore`` upgrades entries it reads, SQL
#: backends upgrade their tables on open).
STORE_SCHEMA_VERSION = 2
#: Characters of the task an index entry keeps as ``task_preview`` (what listings show and ``text`` searches).
TASK_PREVIEW_CHARS = 200
#: Orders a listing can ask for: newest/oldest by start time, most expensive first, most agent calls first
#: (ties: newest first).
SORTS = ("newest", "oldest", "cost", "calls")


@dataclass(frozen=True)
class SessionQuery:
    """``list_sessions`` in backend terms: ANDed filters, ordered by ``sort``, then ``offset`` rows skipped and
    at most ``limit`` returned. Times are ISO-8601 UTC strings as in the index entries; bounds are inclusive;
    ``tactic_paths`` matches any of its values (empty: no filter). ``model`` and ``text`` match a
    case-insensitive substring of one of the entry's ``models`` or of its ``task_preview`` (SQLite folds
    ASCII letters only)."""

    partition: str
    tags: Dict[str, str] = field(default_factory=dict)
    after: Optional[str] = None
    before: Optional[str] = None
    tactic_paths: Tuple[str, ...] = ()
    state: Optional[str] = None
    limit: Optional[int] = None
    tactic_name: Optional[str] = None
    model: Optional[str] = None
    text: Optional[str] = None
    min_cost: Optional[float] = None
    max_cost: Optional[float] = None
    sort: str = "newest"
    offset: int = 0


def task_preview(task: Any) -> str:
    """The first ``TASK_PREVIEW_CHARS`` characters of a stored task (text as is, anything else as JSON)."""
    if task is None:
        return ""
    text = task if isinstance(task, str) else json.dumps(task, ensure_ascii=False, default=str)
    return text[:TASK_PREVIEW_CHARS]


def session_models(session: Dict[str, Any]) -> List[str]:
    """The distinct models of a stored session's agent calls, sub-tactics included, sorted."""
    found: Set[str] = set()
    for calls in (session.get("agent_sessions") or {}).values():
        found.update(a.get("model") or "" for a in calls if isinstance(a, dict))
    for subs in (session.get("sub_tactic_sessions") or {}).values():
        for sub in subs:
            if isinstance(sub, dict):
                found.update(session_models(sub))
    return sorted(m for m in found if m)


def upgrade_index_entry(entry: Dict[str, Any], record: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """An index entry of an older store schema in the current one: ``models`` and ``task_preview`` are
    taken from its session's stored ``record`` (``None``: the session is gone, so they stay empty)."""
    session = (record or {}).get("session") or {}
    return {
        **entry,
        "schema_version": STORE_SCHEMA_VERSION,
        "models": entry.get("models") or session_models(session),
        "task_preview": entry.get("task_preview") or task_preview(session.get("task")),
    }


def index_columns(entry: Dict[str, Any]) -> Tuple[str, float, int, str, str]:
    """``tactic_name, total_cost, agent_calls, models, task_preview`` of an index entry as SQL columns (models
    one per line, so a substring search never spans two)."""
    return (
        str(entry.get("tactic_name") or ""),
        float(entry.get("total_cost") or 0.0),
        int(entry.get("agent_call_count") or 0),
        "\n".join(entry.get("models") or []),
        str(entry.get("task_preview") or ""),
    )


def session_key(index_key: str) -> str:
    """The session record's key of an index entry's key (``<partition>/index/<id>`` → ``…/sessions/<id>``)."""
    partition, _, session_id = index_key.split("/")
    return f"{partition}/sessions/{session_id}"


class IndexedBackend(LogBackend):
    """A backend that answers session listings natively from indexed columns.

    ``put_index`` writes an index entry both as the value of ``key`` (so the key/value view stays
    complete) and as a row of the index; ``delete(key)`` and ``put(key, …)`` drop that row."""

    @abstractmethod
    def put_index(self, key: str, data: bytes, partition: str, entry: Dict[str, Any]) -> None:
        """Store ``data`` under ``key`` and index ``entry`` (session_id, tactic_path, tactic_name, state,
        timestamp, tags, total_cost, agent_call_count, models, task_preview) for ``partition``, atomically."""

    @abstractmethod
    def query_index(self, query: SessionQuery) -> List[bytes]:
        """The stored index entries matching ``query``, in its order, after ``offset``, at most ``limit``."""


def _like(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching ``text`` anywhere."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def index_conditions(query: SessionQuery, placeholder: str, like: str = "LIKE") -> Tuple[List[str], List[Any]]:
    """SQL conditions (on the index table as ``s``) and parameters for every filter but tags, which
    each SQL backend indexes its own way; ``like`` is the backend's case-insensitive LIKE."""
    where: List[str] = [f"s.partition = {placeholder}"]
    params: List[Any] = [query.partition]
    if query.tactic_paths:
        where.append(f"s.tactic_path IN ({', '.join([placeholder] * len(query.tactic_paths))})")
        params += query.tactic_paths
    for condition, value in (
        ("s.state =", query.state),
        ("s.ts >=", query.after),
        ("s.ts <=", query.before),
        ("s.tactic_name =", query.tactic_name),
        # Unary + keeps a cost range from steering the planner to the cost index and a sort of every match.
        ("+s.total_cost >=", query.min_cost),
        ("+s.total_cost <=", query.max_cost),
    ):
        if value is not None:
            where.append(f"{condition} {placeholder}")
            params.append(value)
    for column, text in (("s.models", query.model), ("s.task_preview", query.text)):
        if text:
            where.append(f"{column} {like} {placeholder} ESCAPE '\\'")
            params.append(_like(text))
    return where, params


_ORDER = {
    "newest": "s.ts DESC, s.session_id DESC",
    "oldest": "s.ts ASC, s.session_id ASC",
    "cost": "s.total_cost DESC, s.ts DESC, s.session_id DESC",
    "calls": "s.agent_calls DESC, s.ts DESC, s.session_id DESC",
}


def index_select(where: List[str], params: List[Any], query: SessionQuery, placeholder: str) -> Tuple[str, List[Any]]:
    """The stored index entries matching ``where`` in ``query``'s order, after its offset, then its limit."""
    sql = (
        f"SELECT kv.value FROM lllm_session_index s JOIN lllm_kv kv ON kv.key = s.key "
        f"WHERE {' AND '.join(where)} ORDER BY {_ORDER[query.sort]}"
    )
    if query.limit is None and not query.offset:
        return sql, params
    limit = 2**62 if query.limit is None else query.limit
    return f"{sql} LIMIT {placeholder} OFFSET {placeholder}", [*params, limit, query.offset]


# ---------------------------------------------------------------------------------------------
# Local files
# ---------------------------------------------------------------------------------------------
class LocalFileBackend(LogBackend):
    """One file per key under ``root``. Writes are atomic: a temp file in the same directory is
    fsynced, then renamed over the target, so a reader (or a crash) never sees a partial file.

    Temp names contain ``~``, which no key can, so leftovers of a killed writer are never listed; for the
    same reason leases live in ``~leases/`` as small JSON files, changed under an exclusive lock of
    ``~leases.lock`` (``fcntl.flock``: POSIX, local file systems)."""

    def __init__(self, root: Union[str, os.PathLike[str]]):
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

# Created after the migration has added their columns to an older table.
_SQLITE_INDEXES_V3 = [
    "CREATE INDEX IF NOT EXISTS lllm_si_cost ON lllm_session_index (partition, total_cost, ts, session_id)",
    "CREATE INDEX IF NOT EXISTS lllm_si_calls ON lllm_session_index (partition, agent_calls, ts, session_id)",
    "CREATE INDEX IF NOT EXISTS lllm_si_name ON lllm_session_index (partition, tactic_name, ts, session_id)",
    # Covers the model and task-text filters, so a search that matches little reads one index, newest first.
    "CREATE INDEX IF NOT EXISTS lllm_si_search ON lllm_session_index (partition, ts, session_id, models, task_preview)",
]

#: Version of the SQL tables (``PRAGMA user_version`` in SQLite; 0 means 1): 1 = key/value, session
#: index and tags; 2 = + ``lllm_leases``; 3 = the index also has ``tactic_name``, ``total_cost``,
#: ``agent_calls``, ``models`` and ``task_preview`` (store schema 2). Opening an older database adds what is
#: missing and backfills the new columns from the stored entries and sessions.
SQL_SCHEMA_VERSION = 3
#: The columns version 3 added to ``lllm_session_index`` and their SQL definitions.
INDEX_COLUMNS_V3 = {
    "tactic_name": "TEXT NOT NULL DEFAULT ''",
    "total_cost": "REAL NOT NULL DEFAULT 0",
    "agent_calls": "INTEGER NOT NULL DEFAULT 0",
    "models": "TEXT NOT NULL DEFAULT ''",
    "task_preview": "TEXT NOT NULL DEFAULT ''",
}


def backfill_index(
    rows: List[Tuple[str, bytes]], get: Any
) -> Iterator[Tuple[str, bytes, Tuple[str, float, int, str, str]]]:
    """For each ``(index key, stored entry)`` of an older table: the key, the upgraded entry and its new
    columns; ``get(key)`` reads a stored value. Unreadable entries are skipped (their columns stay empty)."""
    for key, raw in rows:
        try:
            entry = json.loads(bytes(raw))
            if not isinstance(entry, dict):
                continue
            if entry.get("schema_version", 1) < STORE_SCHEMA_VERSION:
                record_raw = get(session_key(key))
                record = json.loads(bytes(record_raw)) if record_raw is not None else None
                entry = upgrade_index_entry(entry, record if isinstance(record, dict) else None)
        except ValueError:
            continue
        data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        yield key, data, index_columns(entry)


class SQLiteBackend(IndexedBackend):
    """An SQLite database file (or ``":memory:"``) in WAL mode; the embedded default.

    One connection per backend, guarded by a lock, so a backend is safe to share between threads;
    several processes may open the same file (writes take the lock with ``BEGIN IMMEDIATE`` and wait
    up to ``timeout`` seconds). Prefix listing is a key range, so ``%`` and ``_`` are literal."""

    def __init__(self, path: Union[str, os.PathLike[str]] = ":memory:", timeout: float = 30.0):
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
                    if version < 3:
                        self._migrate_to_3(c)
                    for statement in _SQLITE_INDEXES_V3:
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

    @staticmethod
    def _migrate_to_3(c: sqlite3.Connection) -> None:
        """Add the version-3 index columns to an older table and fill them from the stored entries and sessions."""
        have = {r[1] for r in c.execute("PRAGMA table_info(lllm_session_index)")}
        for name, definition in INDEX_COLUMNS_V3.items():
            if name not in have:
                c.execute(f"ALTER TABLE lllm_session_index ADD COLUMN {name} {definition}")
        rows = c.execute(
            "SELECT s.key, kv.value FROM lllm_session_index s JOIN lllm_kv kv ON kv.key = s.key"
        ).fetchall()

        def get(key: str) -> Optional[bytes]:
            row = c.execute("SELECT value FROM lllm_kv WHERE key = ?", (key,)).fetchone()
            return None if row is None else bytes(row[0])

        for key, data, cols in backfill_index(rows, get):
            c.execute("UPDATE lllm_kv SET value = ? WHERE key = ?", (data, key))
            c.execute(
                "UPDATE lllm_session_index SET tactic_name = ?, total_cost = ?, agent_calls = ?, models = ?, "
                "task_preview = ? WHERE key = ?",
                (*cols, key),
            )

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
                "INSERT INTO lllm_session_index (key, partition, session_id, tactic_path, state, ts, tactic_name, "
                "total_cost, agent_calls, models, task_preview) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, partition, entry["session_id"], entry.get("tactic_path"), entry.get("state"), ts)
                + index_columns(entry),
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
        sql, params = index_select(where, params, query, "?")
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
            changed: int = c.execute("SELECT changes()").fetchone()[0]
            return changed == 1

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
    "STORE_SCHEMA_VERSION",
    "TASK_PREVIEW_CHARS",
    "SORTS",
    "task_preview",
    "session_models",
    "upgrade_index_entry",
    "check_lease_args",
    "validate_key",
    "validate_prefix",
    "is_segment",
]
