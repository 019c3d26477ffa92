"""The session store (§9.1–9.2): ``LogStore`` saves, lists, loads, exports and deletes tactic sessions
over any ``LogBackend``.

Layout, per partition: ``<partition>/sessions/<id>`` (the full record), ``<partition>/index/<id>``
(a small entry that listings read), ``<partition>/errors/<id>`` and, for each task of a durable batch
that succeeded, ``<partition>/batches/<hash of the batch id>/<index>``; leases (their own namespace) are
``<partition>/<name>``. The session is written before its
index entry and deleted after it, so an index entry never points at a missing session. Every record
carries ``schema_version``; secrets are redacted before anything is written (§9.3)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import traceback as tb
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

from pydantic import BaseModel, Field

from lllm.core.jsonable import to_json_safe
from lllm.core.sessions import TacticCallSession
from lllm.logging.backends import (
    SORTS,
    STORE_SCHEMA_VERSION,
    IndexedBackend,
    Lease,
    LogBackend,
    LogStoreError,
    NoOpBackend,
    SessionQuery,
    encode_json,
    is_segment,
    session_models,
    task_preview,
    upgrade_index_entry,
    validate_key,
)
from lllm.logging.file_backend import LocalFileBackend
from lllm.logging.redact import environment_secrets, redact
from lllm.logging.sqlite import SQLiteBackend

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import RuntimeLike

logger = logging.getLogger("lllm")

TimeLike = Union[datetime, str, int, float]


class SessionSummary(BaseModel):
    """One row of ``list_sessions``: read from the index alone."""

    session_id: str
    tactic_name: str
    tactic_path: Optional[str] = None
    state: str
    total_cost: float = 0.0
    agent_call_count: int = 0
    timestamp: datetime
    tags: Dict[str, str] = Field(default_factory=dict)
    models: List[str] = Field(default_factory=list)
    task_preview: str = ""


class SessionRecord(BaseModel):
    """A loaded session with what was saved alongside it."""

    session_id: str
    session: TacticCallSession
    tags: Dict[str, str] = Field(default_factory=dict)
    metadata: Dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime
    traceback: Optional[str] = None


class LogStore:
    """Sessions of tactic calls over a ``LogBackend``, isolated by ``partition``.

    With a ``runtime`` attached, ``tactic_path`` filters accept any form the runtime resolves (stable
    ``pkg::name`` key, URL, ``pkg:key``, alias, bare name); otherwise they compare literally (§9.2)."""

    def __init__(self, backend: LogBackend, partition: str = "default", runtime: Optional["RuntimeLike"] = None):
        if not is_segment(partition):
            raise ValueError(
                f"Invalid partition {partition!r}: use one segment of [A-Za-z0-9._-], without '..' and other than '.'"
            )
        self.backend = backend
        self.partition = partition
        self.runtime = runtime

    def __repr__(self) -> str:
        return f"LogStore({self.backend!r}, partition={self.partition!r})"

    def close(self) -> None:
        self.backend.close()

    # -- keys ------------------------------------------------------------------------------------
    def _key(self, kind: str, item_id: str) -> str:
        if not is_segment(item_id):
            raise ValueError(f"Invalid session id {item_id!r} (partition {self.partition!r})")
        return f"{self.partition}/{kind}/{item_id}"

    def _new_id(self, when: datetime, kind: str) -> str:
        """``YYYYMMDD_HHMMSS_<8hex>`` (UTC); re-drawn in the rare case the id is taken."""
        while True:
            item_id = f"{when.strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(4)}"
            if self.backend.get(self._key(kind, item_id)) is None:
                return item_id

    # -- saving ----------------------------------------------------------------------------------
    def save_session(
        self,
        session: TacticCallSession,
        tags: Optional[Dict[str, str]] = None,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> str:
        """Save ``session`` (redacted) and its index entry; returns the new session id.

        ``tags`` must map ``str`` to ``str`` (else ``TypeError``). Metadata values that are not JSON are
        stored as ``str`` with a warning, NaN and infinities as ``null`` (as in the session). The id and timestamp come from the session's start (UTC)."""
        tags = _check_tags(tags)
        meta = finite_json(_jsonable(dict(metadata or {}), what="metadata"))  # NaN as null, as in the session
        when = datetime.fromtimestamp(session.started_at, timezone.utc)
        session_id = self._new_id(when, "sessions")
        data = _jsonable(session, what="session")
        data["session_id"] = session_id
        _note_delivery_types(session, data)
        secret_values = environment_secrets()
        data, tags, meta = (redact(x, secret_values) for x in (data, tags, meta))
        timestamp = _iso(when)
        record = {
            "schema_version": STORE_SCHEMA_VERSION,
            "session_id": session_id,
            "timestamp": timestamp,
            "tags": tags,
            "metadata": meta,
            "traceback": data.get("error_traceback"),
            "session": data,
        }
        cost = session.total_cost.cost
        entry = {
            "schema_version": STORE_SCHEMA_VERSION,
            "session_id": session_id,
            "tactic_name": data.get("tactic_name") or "",
            "tactic_path": data.get("tactic_path"),
            "state": data.get("state") or "initial",
            "total_cost": cost,
            "agent_call_count": session.agent_call_count,
            "timestamp": timestamp,
            "tags": tags,
            "metadata": meta,
            "traceback": record["traceback"],
            "models": session_models(data),
            "task_preview": task_preview(data.get("task")),
        }
        record_key, index_key = self._key("sessions", session_id), self._key("index", session_id)
        if isinstance(self.backend, IndexedBackend):  # one transaction: a failed save leaves neither
            self.backend.put_session(record_key, _encode(record), index_key, _encode(entry), self.partition, entry)
        else:
            self.backend.put(record_key, _encode(record))
            self.backend.put(index_key, _encode(entry))
        return session_id

    def save_error(self, err: BaseException, context: Optional[Dict[str, Any]] = None) -> str:
        """Save an exception with the traceback it carries (``err.__traceback__``); returns its id."""
        when = datetime.now(timezone.utc)
        error_id = self._new_id(when, "errors")
        record = {
            "schema_version": STORE_SCHEMA_VERSION,
            "error_id": error_id,
            "timestamp": _iso(when),
            "type": type(err).__name__,
            "message": str(err),
            "traceback": "".join(tb.format_exception(type(err), err, err.__traceback__)),
            "context": _jsonable(dict(context or {}), what="error context"),
        }
        self.backend.put(self._key("errors", error_id), _encode(redact(record)))
        return error_id

    # -- loading ---------------------------------------------------------------------------------
    def load_record(self, session_id: str) -> Dict[str, Any]:
        """The stored record as saved (``session_id``, ``timestamp``, ``tags``, ``metadata``, ``traceback`` and
        ``session``, the session's JSON), parsed but not validated: cheap for large sessions. Absent →
        ``KeyError``; invalid id or newer schema → ``ValueError``."""
        raw = self.backend.get(self._key("sessions", session_id))
        if raw is None:
            raise KeyError(f"No session {session_id!r} in partition {self.partition!r} of {self.backend!r}")
        return _upgrade(json.loads(raw), f"session {session_id!r}")

    def load_session(self, session_id: str) -> TacticCallSession:
        """The saved session (absent → ``KeyError`` naming the partition)."""
        return TacticCallSession.model_validate(self.load_record(session_id)["session"])

    def load_session_record(self, session_id: str) -> SessionRecord:
        """The saved session with its tags, metadata, timestamp and traceback."""
        rec = self.load_record(session_id)
        return SessionRecord(
            session_id=rec["session_id"],
            session=TacticCallSession.model_validate(rec["session"]),
            tags=rec.get("tags") or {},
            metadata=rec.get("metadata") or {},
            timestamp=rec["timestamp"],
            traceback=rec.get("traceback"),
        )

    def export_session(self, session_id: str, format: str = "json") -> str:
        """The stored record as text; only ``"json"`` is supported."""
        if format != "json":
            raise ValueError(f"Unsupported export format {format!r}; supported: ['json']")
        record = finite_json(self.load_record(session_id))  # older lllm stored NaN in metadata: not JSON
        text = json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate as its JSON escape

    def delete_session(self, session_id: str) -> None:
        """Remove a session and its index entry; deleting an absent session is a no-op."""
        self.backend.delete(self._key("index", session_id))
        self.backend.delete(self._key("sessions", session_id))

    # -- durable batches -------------------------------------------------------------------------
    def _batch_key(self, batch_id: str, index: int) -> str:
        if not isinstance(batch_id, str) or isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"Invalid batch task {batch_id!r}[{index!r}]: use a str batch id and an index >= 0")
        return f"{self.partition}/batches/{hashlib.sha256(batch_id.encode()).hexdigest()[:32]}/{index}"

    def record_batch_task(self, batch_id: str, index: int, session_id: str, task_md5: str) -> None:
        """Note that task ``index`` of batch ``batch_id`` succeeded as the saved session ``session_id``."""
        record = {
            "schema_version": STORE_SCHEMA_VERSION,
            "batch_id": batch_id,
            "index": index,
            "session_id": session_id,
            "task_md5": task_md5,
        }
        self.backend.put(self._batch_key(batch_id, index), _encode(redact(record)))

    def batch_task(self, batch_id: str, index: int) -> Optional[Dict[str, Any]]:
        """What ``record_batch_task`` noted for that task (``session_id``, ``task_md5``), or ``None``."""
        raw = self.backend.get(self._batch_key(batch_id, index))
        return None if raw is None else _upgrade(json.loads(raw), f"batch {batch_id!r} task {index}")

    # -- leases ----------------------------------------------------------------------------------
    def _lease_key(self, name: str) -> str:
        try:
            return validate_key(f"{self.partition}/{name}")
        except ValueError:
            raise ValueError(f"Invalid lease name {name!r}: use '/'-joined segments of [A-Za-z0-9._-]") from None

    def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds; ``False`` if another
        holder's lease on it has not expired (atomic across processes sharing the store)."""
        return self.backend.acquire_lease(self._lease_key(name), holder, ttl)

    def release_lease(self, name: str, holder: str) -> None:
        """Drop ``holder``'s lease ``name``; silent if ``holder`` does not hold it."""
        self.backend.release_lease(self._lease_key(name), holder)

    def get_lease(self, name: str) -> Optional[Lease]:
        """The lease ``name`` (possibly expired), or ``None``."""
        return self.backend.get_lease(self._lease_key(name))

    # -- queries ---------------------------------------------------------------------------------
    def list_sessions(
        self,
        tags: Optional[Dict[str, str]] = None,
        after: Optional[TimeLike] = None,
        before: Optional[TimeLike] = None,
        tactic_path: Optional[str] = None,
        state: Optional[str] = None,
        limit: Optional[int] = 100,
        *,
        tactic_name: Optional[str] = None,
        model: Optional[str] = None,
        text: Optional[str] = None,
        min_cost: Optional[float] = None,
        max_cost: Optional[float] = None,
        sort: str = "newest",
        offset: int = 0,
    ) -> List[SessionSummary]:
        """Index entries matching every filter, in ``sort`` order (``newest``, ``oldest``, ``cost`` or ``calls``:
        highest first, ties newest first), ``offset`` skipped, then at most ``limit`` (``None``: all).

        Tags and ``tactic_name`` match exactly; time and cost bounds are inclusive, naive times are UTC;
        ``model`` and ``text`` match a case-insensitive substring of a model used or of the task preview (its
        first 200 characters). Every filter and sort is answered from the index."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"limit must be an integer >= 1 or None, got {limit!r}")
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {list(SORTS)}, got {sort!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an integer >= 0, got {offset!r}")
        for name, value in (("min_cost", min_cost), ("max_cost", max_cost)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{name} must be a number or None, got {value!r}")
        query = replace(
            self._query(tags, after, before, tactic_path, state, limit),
            tactic_name=tactic_name,
            model=model or None,
            text=text or None,
            min_cost=None if min_cost is None else float(min_cost),
            max_cost=None if max_cost is None else float(max_cost),
            sort=sort,
            offset=offset,
        )
        return [_summary(e) for e in self._entries(query)]

    def export_cost_summary(
        self,
        tags: Optional[Dict[str, str]] = None,
        after: Optional[TimeLike] = None,
        before: Optional[TimeLike] = None,
        tactic_path: Optional[str] = None,
    ) -> Dict[str, Any]:
        """``{session_count, total_cost_usd, spent_usd, sessions: [...]}`` over every matching session (uncapped).

        ``cost_usd`` is what a run costs; ``spent_usd`` leaves out the answers a replay took from its recording
        (they were paid for once, by the recorded session), so summing it over sessions does not count them twice."""
        entries = self._entries(self._query(tags, after, before, tactic_path, None, None))
        sessions = [
            {
                "session_id": e["session_id"],
                "tactic_name": e.get("tactic_name", ""),
                "state": e.get("state"),
                "cost_usd": float(e.get("total_cost") or 0.0),
                "spent_usd": self._spent(e),
                "timestamp": e["timestamp"],
            }
            for e in entries
        ]
        return {
            "session_count": len(sessions),
            "total_cost_usd": round(sum(s["cost_usd"] for s in sessions), 6),
            "spent_usd": round(sum(s["spent_usd"] for s in sessions), 6),
            "sessions": sessions,
        }

    def _spent(self, entry: Dict[str, Any]) -> float:
        """A listed session's spending: its cost, unless it is a replay (then read from the session itself)."""
        cost = float(entry.get("total_cost") or 0.0)
        if not cost or "lllm.replay_of" not in (entry.get("tags") or {}):
            return cost
        try:
            return round(self.load_session(entry["session_id"]).spent_cost.cost, 6)
        except (KeyError, ValueError) as e:  # deleted meanwhile, or unreadable: count what the index says
            logger.warning(
                "Session %s: counting its full cost as spent, its record did not load: %s", entry["session_id"], e
            )
            return cost

    def _query(
        self,
        tags: Optional[Dict[str, str]],
        after: Optional[TimeLike],
        before: Optional[TimeLike],
        tactic_path: Optional[str],
        state: Optional[str],
        limit: Optional[int],
    ) -> SessionQuery:
        return SessionQuery(
            partition=self.partition,
            tags=_check_tags(tags),
            after=None if after is None else _iso(_as_utc(after, "after")),
            before=None if before is None else _iso(_as_utc(before, "before")),
            tactic_paths=self._tactic_paths(tactic_path),
            state=state,
            limit=limit,
        )

    def _tactic_paths(self, tactic_path: Optional[str]) -> Tuple[str, ...]:
        """The stored forms a ``tactic_path`` filter matches: itself, plus its stable id if the
        attached runtime resolves it."""
        if tactic_path is None:
            return ()
        if self.runtime is None:
            return (tactic_path,)
        from lllm.core.tactic import stable_tactic_id

        try:
            node = self.runtime.get_node(tactic_path, "tactic")
        except (KeyError, TypeError, ValueError):  # unknown, not a tactic, or not a runtime key (``pkg::name``)
            return (tactic_path,)
        stable = stable_tactic_id(node.namespace, getattr(node.value, "name", "") or node.key)
        return (stable,) if stable == tactic_path else (stable, tactic_path)

    def _entries(self, query: SessionQuery) -> List[Dict[str, Any]]:
        """Matching index entries, newest first, limited: natively when the backend can, else by
        reading every entry of the partition."""
        if isinstance(self.backend, IndexedBackend):
            return [json.loads(raw) for raw in self.backend.query_index(query)]
        return query_entries(self._read_index(), query)

    def _read_index(self) -> List[Dict[str, Any]]:
        """Every index entry of the partition; an entry of an older schema is upgraded from its session's record and
        rewritten in place (once; on read-only storage it is upgraded at each listing instead)."""
        out = []
        for key in self.backend.list_keys(f"{self.partition}/index/"):
            raw = self.backend.get(key)
            if raw is None:
                continue  # deleted meanwhile
            try:
                entry = json.loads(raw)
            except ValueError:
                logger.warning("log store: unreadable index entry %s skipped", key)
                continue
            if (
                isinstance(entry.get("schema_version", 1), int)
                and entry.get("schema_version", 1) < STORE_SCHEMA_VERSION
            ):
                entry = self._upgrade_entry(key, entry)
            out.append(entry)
        return out

    def _upgrade_entry(self, key: str, entry: Dict[str, Any]) -> Dict[str, Any]:
        raw = self.backend.get(self._key("sessions", str(entry.get("session_id"))))
        try:
            record = None if raw is None else json.loads(raw)
        except ValueError:
            record = None
        entry = upgrade_index_entry(entry, record if isinstance(record, dict) else None)
        if self.backend.get(key) is not None:  # not deleted meanwhile
            try:
                self.backend.put(key, _encode(entry))
            except OSError as e:  # read-only storage: listed from the upgraded copy, upgraded on disk never
                logger.debug("log store: index entry %s not rewritten in the new schema (%s)", key, e)
        return entry


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def query_entries(entries: Sequence[Dict[str, Any]], query: SessionQuery) -> List[Dict[str, Any]]:
    """Apply ``query`` to index entries in memory: the reference semantics every backend matches."""

    model, text = (query.model or "").lower(), (query.text or "").lower()

    def keep(e: Dict[str, Any]) -> bool:
        tags = e.get("tags") or {}
        cost = float(e.get("total_cost") or 0.0)
        return (
            all(tags.get(k) == v for k, v in query.tags.items())
            and (not query.tactic_paths or e.get("tactic_path") in query.tactic_paths)
            and (query.state is None or e.get("state") == query.state)
            and (query.after is None or e["timestamp"] >= query.after)
            and (query.before is None or e["timestamp"] <= query.before)
            and (query.tactic_name is None or (e.get("tactic_name") or "") == query.tactic_name)
            and (query.min_cost is None or cost >= query.min_cost)
            and (query.max_cost is None or cost <= query.max_cost)
            and (not model or any(model in m.lower() for m in e.get("models") or []))
            and (not text or text in (e.get("task_preview") or "").lower())
        )

    found = [e for e in entries if keep(e)]
    found.sort(key=lambda e: (e["timestamp"], e["session_id"]), reverse=query.sort != "oldest")
    if query.sort in ("cost", "calls"):  # stable: ties stay newest first
        field = "total_cost" if query.sort == "cost" else "agent_call_count"
        found.sort(key=lambda e: float(e.get(field) or 0), reverse=True)
    found = found[query.offset :]
    return found if query.limit is None else found[: query.limit]


def _check_tags(tags: Optional[Dict[str, str]]) -> Dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise TypeError(f"tags must be a dict of str to str, got {tags!r}")
    return dict(tags)


def _jsonable(value: Any, what: str) -> Any:
    """``value`` as JSON-ready data; anything JSON cannot hold becomes ``str`` with one warning."""
    return to_json_safe(value, what=f"log store: {what}", stacklevel=3)


def finite_json(value: Any) -> Any:
    """JSON data with NaN and the infinities (which JSON lacks; strict parsers refuse them) as ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value


def _note_delivery_types(session: Any, data: Dict[str, Any]) -> None:
    """Record ``delivery_type`` where a delivery is a BaseModel (it is stored as a dict), recursively."""
    if isinstance(session.delivery, BaseModel):
        cls = type(session.delivery)
        data["delivery_type"] = f"{cls.__module__}.{cls.__qualname__}"
    for name, subs in session.sub_tactic_sessions.items():
        for sub, sub_data in zip(subs, data.get("sub_tactic_sessions", {}).get(name, [])):
            _note_delivery_types(sub, sub_data)


def _encode(record: Dict[str, Any]) -> bytes:
    return encode_json(record)


def _upgrade(record: Dict[str, Any], what: str) -> Dict[str, Any]:
    """A stored record in the current format: version 2 only added fields to index entries (upgraded where they
    are read), so older records are read as they are; newer ones need a newer lllm."""
    version = record.get("schema_version", 1)
    if not isinstance(version, int) or version > STORE_SCHEMA_VERSION:
        raise ValueError(
            f"{what} has store schema_version {version!r}, newer than this lllm supports "
            f"({STORE_SCHEMA_VERSION}); upgrade lllm to read it"
        )
    return record


def _as_utc(value: TimeLike, name: str = "time") -> datetime:
    """A time bound (the filter ``name``) as an aware UTC datetime: naive datetimes and ISO strings are taken as UTC."""
    if isinstance(value, bool):
        raise TypeError(f"Invalid time {value!r}")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise ValueError(
                f"{name}={value!r} is not a time: use an ISO-8601 date or time (2024-05-01, 2024-05-01T12:00:00Z; "
                f"UTC unless it names a zone), a datetime or epoch seconds"
            ) from None
    if not isinstance(value, datetime):
        raise TypeError(f"Invalid time {value!r}: use a datetime, an ISO-8601 string or epoch seconds")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _iso(when: datetime) -> str:
    """Fixed-width ISO-8601 UTC (``2024-05-01T12:00:00.000000+00:00``): sorts as it reads."""
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _summary(entry: Dict[str, Any]) -> SessionSummary:
    return SessionSummary(
        session_id=entry["session_id"],
        tactic_name=entry.get("tactic_name") or "",
        tactic_path=entry.get("tactic_path"),
        state=entry.get("state") or "initial",
        total_cost=float(entry.get("total_cost") or 0.0),
        agent_call_count=int(entry.get("agent_call_count") or 0),
        timestamp=entry["timestamp"],
        tags=entry.get("tags") or {},
        models=entry.get("models") or [],
        task_preview=entry.get("task_preview") or "",
    )


# ---------------------------------------------------------------------------------------------
# Factories
# ---------------------------------------------------------------------------------------------
def local_store(
    path: Union[str, Path], partition: str = "default", runtime: Optional["RuntimeLike"] = None
) -> LogStore:
    """A store of JSON files under ``path`` (atomic writes)."""
    return LogStore(LocalFileBackend(path), partition=partition, runtime=runtime)


def sqlite_store(
    path: Union[str, Path] = ":memory:",
    partition: str = "default",
    runtime: Optional["RuntimeLike"] = None,
    timeout: float = 30.0,
) -> LogStore:
    """A store in one SQLite file (WAL), or in memory with ``":memory:"``; a write waits at most ``timeout``
    seconds for another connection's lock."""
    return LogStore(SQLiteBackend(path, timeout=timeout), partition=partition, runtime=runtime)


def noop_store(partition: str = "default", runtime: Optional["RuntimeLike"] = None) -> LogStore:
    """A store that records nothing."""
    return LogStore(NoOpBackend(), partition=partition, runtime=runtime)


def postgres_store(
    dsn: str,
    partition: str = "default",
    runtime: Optional["RuntimeLike"] = None,
    *,
    statement_timeout: Optional[float] = None,
    lock_timeout: Optional[float] = None,
    idle_in_transaction_session_timeout: Optional[float] = None,
) -> LogStore:
    """A store in PostgreSQL (needs ``lllm[postgres]``); the bounds (seconds) are ``PostgresBackend``'s."""
    from lllm.logging.postgres import PostgresBackend

    backend = PostgresBackend(
        dsn,
        statement_timeout=statement_timeout,
        lock_timeout=lock_timeout,
        idle_in_transaction_session_timeout=idle_in_transaction_session_timeout,
    )
    return LogStore(backend, partition=partition, runtime=runtime)


__all__ = [
    "LogStore",
    "SessionSummary",
    "SessionRecord",
    "STORE_SCHEMA_VERSION",
    "Lease",
    "LogStoreError",
    "query_entries",
    "local_store",
    "sqlite_store",
    "noop_store",
    "postgres_store",
]
