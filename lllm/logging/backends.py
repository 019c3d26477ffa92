"""Key/value backends for the session store (§9.1): their base class, the helpers they share, and a no-op.
The backends themselves live in ``file_backend`` (local files), ``sqlite`` and ``postgres``.

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
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

from lllm.errors import LLLMError
from lllm.lazy import lazy_exports as _lazy_exports

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


class StoreTimeoutError(LogStoreError):
    """A store operation that gave up after its bound (``setting``, ``timeout`` seconds) because another client
    held a lock or the server was stuck; the operation wrote nothing and the backend stays usable."""

    def __init__(self, message: str, *, store: str, operation: str, setting: str, timeout: float):
        super().__init__(message)
        self.store = store
        self.operation = operation
        self.setting = setting
        self.timeout = timeout


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
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")  # names that mean an SQLite file (``lllm --store``, ``local_store``)


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` starts with SQLite's file header (``False`` when it does not, or cannot be read)."""
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


# NUL, which PostgreSQL text and JSONB cannot hold and SQLite's LIKE stops at, and lone surrogates (undecodable
# bytes as Python reads them), which UTF-8 cannot encode.
_NOT_SQL_TEXT = re.compile("[\x00\ud800-\udfff]")


def index_text(text: Any) -> Any:
    """A text as the SQL index columns and their filters hold it: NUL and lone surrogates as U+FFFD (the stored
    entry keeps them). Other values pass unchanged."""
    return _NOT_SQL_TEXT.sub("\ufffd", text) if isinstance(text, str) else text


def encode_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON; a lone surrogate is written as its ``\\uXXXX`` escape, so it loads back."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


def index_columns(entry: Dict[str, Any]) -> Tuple[str, float, int, str, str]:
    """``tactic_name, total_cost, agent_calls, models, task_preview`` of an index entry as SQL columns (models
    one per line, so a substring search never spans two)."""
    return (
        index_text(str(entry.get("tactic_name") or "")),
        float(entry.get("total_cost") or 0.0),
        int(entry.get("agent_call_count") or 0),
        index_text("\n".join(entry.get("models") or [])),
        index_text(str(entry.get("task_preview") or "")),
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

    def put_session(
        self, record_key: str, record: bytes, key: str, data: bytes, partition: str, entry: Dict[str, Any]
    ) -> None:
        """``put(record_key, record)`` then ``put_index(key, data, partition, entry)``; the SQL backends do both in
        one transaction, so a save that fails leaves neither (no record without its index entry)."""
        self.put(record_key, record)
        self.put_index(key, data, partition, entry)


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
        params += [index_text(p) for p in query.tactic_paths]
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
            params.append(index_text(value))
    for column, text in (("s.models", query.model), ("s.task_preview", query.text)):
        if text:
            where.append(f"{column} {like} {placeholder} ESCAPE '\\'")
            params.append(_like(index_text(text)))
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
# Shared by the SQL backends (lllm.logging.sqlite, lllm.logging.postgres)
# ---------------------------------------------------------------------------------------------
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


def fill_index_v3(execute: Callable[..., Any], ph: str) -> None:
    """Fill the version-3 index columns of an older table (once they are added) from its stored entries and
    sessions, upgrading each entry; ``execute`` runs SQL with ``ph`` placeholders. Unreadable entries are
    skipped (their columns stay empty)."""
    rows = execute("SELECT s.key, kv.value FROM lllm_session_index s JOIN lllm_kv kv ON kv.key = s.key").fetchall()
    for key, raw in rows:
        try:
            entry = json.loads(bytes(raw))
            if not isinstance(entry, dict):
                continue
            if entry.get("schema_version", 1) < STORE_SCHEMA_VERSION:
                row = execute(f"SELECT value FROM lllm_kv WHERE key = {ph}", (session_key(key),)).fetchone()
                record = json.loads(bytes(row[0])) if row is not None else None
                entry = upgrade_index_entry(entry, record if isinstance(record, dict) else None)
        except ValueError:
            continue
        data = encode_json(entry)
        execute(f"UPDATE lllm_kv SET value = {ph} WHERE key = {ph}", (data, key))
        execute(
            f"UPDATE lllm_session_index SET tactic_name = {ph}, total_cost = {ph}, agent_calls = {ph}, "
            f"models = {ph}, task_preview = {ph} WHERE key = {ph}",
            (*index_columns(entry), key),
        )


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


# The file and SQLite backends live in modules of their own (which import this one); they are still importable from
# here, loaded on first use so that importing this module does not load them (nor sqlite3).
_MOVED = {"LocalFileBackend": "file_backend", "SQLiteBackend": "sqlite"}

if TYPE_CHECKING:  # pragma: no cover - lets type checkers see the lazily imported names as exports
    from lllm.logging.file_backend import LocalFileBackend as LocalFileBackend
    from lllm.logging.sqlite import SQLiteBackend as SQLiteBackend


__getattr__ = _lazy_exports(__name__, {name: f"lllm.logging.{module}" for name, module in _MOVED.items()})


__all__ = [
    "is_sqlite_file",
    "SQLITE_SUFFIXES",
    "LogBackend",
    "IndexedBackend",
    "SessionQuery",
    "LocalFileBackend",
    "SQLiteBackend",
    "NoOpBackend",
    "Lease",
    "LogStoreError",
    "StoreTimeoutError",
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
