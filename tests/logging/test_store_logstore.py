"""LogStore behaviour beyond the backend contract: write order, ids, native vs generic queries,
runtime-aware tactic_path filters (§9.2), factories, and SQLite query plans that never scan."""

from __future__ import annotations

import json
import random
import re
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from lllm import Runtime, Tactic
from lllm.logging import (
    LocalFileBackend,
    LogStore,
    NoOpBackend,
    SessionQuery,
    SQLiteBackend,
    local_store,
    noop_store,
    sqlite_store,
)
from lllm.logging.conformance import BASE_TIME, make_session
from lllm.logging.store import query_entries
from lllm.packages.resource import PackageInfo


class SpyBackend(LocalFileBackend):
    """Records the order of writes and deletes."""

    def __init__(self, root):
        super().__init__(root)
        self.ops = []

    def put(self, key, data):
        self.ops.append(("put", key))
        super().put(key, data)

    def delete(self, key):
        self.ops.append(("delete", key))
        super().delete(key)


def test_the_session_is_written_before_its_index_entry_and_deleted_after_it(tmp_path):
    backend = SpyBackend(tmp_path)
    store = LogStore(backend, partition="p")
    sid = store.save_session(make_session())
    assert backend.ops == [("put", f"p/sessions/{sid}"), ("put", f"p/index/{sid}")]
    backend.ops.clear()
    store.delete_session(sid)
    assert backend.ops == [("delete", f"p/index/{sid}"), ("delete", f"p/sessions/{sid}")]


def test_index_entries_hold_the_specified_fields(tmp_path):
    store = local_store(tmp_path)
    sid = store.save_session(make_session(state="failure"), tags={"a": "b"}, metadata={"m": 1})
    entry = json.loads((tmp_path / "default" / "index" / sid).read_bytes())
    assert set(entry) == {
        "schema_version",
        "session_id",
        "tactic_name",
        "tactic_path",
        "state",
        "total_cost",
        "agent_call_count",
        "timestamp",
        "tags",
        "metadata",
        "traceback",
        "models",
        "task_preview",
    }
    assert entry["timestamp"] == "2024-05-01T12:00:00.000000+00:00" and entry["traceback"].startswith("Traceback")
    assert (tmp_path / "default" / "sessions" / sid).is_file()


def test_ids_are_utc_start_times_with_random_suffixes():
    store = sqlite_store()
    when = datetime(2023, 12, 31, 23, 59, 58, tzinfo=timezone(timedelta(hours=-5)))
    sid = store.save_session(make_session(started_at=when))
    assert re.fullmatch(r"20240101_045958_[0-9a-f]{8}", sid)


def test_partitions_and_ids_are_validated():
    with pytest.raises(ValueError, match="partition"):
        LogStore(NoOpBackend(), partition="a/b")
    with pytest.raises(ValueError, match="partition"):
        LogStore(NoOpBackend(), partition="..")
    with pytest.raises(ValueError, match="partition"):  # "p/./x" would be the file "p/x"
        LogStore(NoOpBackend(), partition=".")
    store = noop_store()
    for bad in ("a/b", "..", "", "x y", "."):
        with pytest.raises(ValueError, match="Invalid session id"):
            store.delete_session(bad)


def test_a_noop_store_accepts_sessions_and_keeps_nothing():
    store = noop_store()
    sid = store.save_session(make_session())
    assert store.list_sessions() == [] and store.export_cost_summary()["session_count"] == 0
    with pytest.raises(KeyError, match="default"):
        store.load_session(sid)


@pytest.mark.parametrize("backend_kind", ["sqlite", "local"])
def test_native_queries_agree_with_the_reference_semantics(tmp_path, backend_kind):
    """Random sessions and random filter combinations: the result equals ``query_entries`` over every
    index entry (the in-memory reference), for the native SQLite query and the generic file path."""
    rng = random.Random(7)
    store = sqlite_store(tmp_path / "s.db") if backend_kind == "sqlite" else local_store(tmp_path / "files")
    paths, states = ["p::a", "p::b", "q::c", None], ["success", "failure", "running"]
    for _ in range(150):
        when = BASE_TIME + timedelta(seconds=rng.randrange(0, 3600))
        tags = {k: rng.choice("xyz") for k in rng.sample(["team", "run", "env"], rng.randrange(0, 4))}
        store.save_session(
            make_session(tactic_path=rng.choice(paths), state=rng.choice(states), started_at=when), tags=tags
        )
    entries = store._read_index()
    assert len(entries) == 150
    for _ in range(200):
        after = BASE_TIME + timedelta(seconds=rng.randrange(0, 3600)) if rng.random() < 0.4 else None
        before = after + timedelta(seconds=rng.randrange(0, 1800)) if after and rng.random() < 0.5 else None
        tags = {k: rng.choice("xyz") for k in rng.sample(["team", "run", "env"], rng.randrange(0, 3))}
        path = rng.choice([None, None, "p::a", "q::c", "nope"])
        state = rng.choice([None, None, "success", "failure"])
        limit = rng.choice([None, 1, 5, 100])
        got = [
            s.session_id
            for s in store.list_sessions(
                tags=tags, after=after, before=before, tactic_path=path, state=state, limit=limit
            )
        ]
        query = store._query(tags, after, before, path, state, limit)
        assert got == [e["session_id"] for e in query_entries(entries, query)]


def test_time_bounds_accept_datetimes_iso_strings_and_epoch_seconds():
    store = sqlite_store()
    ids = [store.save_session(make_session(started_at=BASE_TIME + timedelta(minutes=i))) for i in range(3)]
    middle = BASE_TIME + timedelta(minutes=1)
    for bound in (
        middle,
        middle.replace(tzinfo=None),
        "2024-05-01T12:01:00Z",
        "2024-05-01T12:01:00",
        "2024-05-01T14:01:00+02:00",
        middle.timestamp(),
    ):
        assert [s.session_id for s in store.list_sessions(after=bound, before=bound)] == [ids[1]], bound
    with pytest.raises(TypeError, match="Invalid time"):
        store.list_sessions(after=[2024])
    with pytest.raises(TypeError, match="tags"):
        store.list_sessions(tags={"a": 1})


# -- §9.2: runtime-aware tactic_path filters -------------------------------------------------------
rt = Runtime("logstore-tests")


class Summarise(Tactic, register=False):
    name = "summarise"

    def call(self, task):
        return task


def _package_runtime() -> Runtime:
    runtime = Runtime("logstore-pkg")
    runtime.register_package(PackageInfo(name="demo", version="1.0", description="", base_dir="."))
    runtime.register_tactic("tools/summarise", Summarise, namespace="demo")
    return runtime


class AliasRuntime:
    """What an ``as`` alias gives (§6.3): another key resolving to the same node."""

    def __init__(self, runtime):
        self.runtime = runtime

    def get_node(self, key, resource_type=None):
        return self.runtime.get_node(key.replace("d2", "demo", 1), resource_type)


def test_tactic_path_filters_resolve_any_form_through_the_runtime():
    runtime = _package_runtime()
    store = sqlite_store(runtime=runtime)
    mine = store.save_session(make_session(tactic_name="summarise", tactic_path="demo::summarise"))
    store.save_session(make_session(tactic_name="other", tactic_path="demo::other"))
    forms = ["demo::summarise", "demo.tactics:tools/summarise", "demo:tools/summarise", "tools/summarise"]
    for form in forms:
        assert [s.session_id for s in store.list_sessions(tactic_path=form)] == [mine], form
        assert store.export_cost_summary(tactic_path=form)["session_count"] == 1
    aliased = LogStore(store.backend, runtime=AliasRuntime(runtime))
    assert [s.session_id for s in aliased.list_sessions(tactic_path="d2:tools/summarise")] == [mine]
    assert store.list_sessions(tactic_path="unknown") == []


def test_without_a_runtime_tactic_path_filters_compare_literally():
    store = sqlite_store()
    mine = store.save_session(make_session(tactic_path="demo::summarise"))
    assert [s.session_id for s in store.list_sessions(tactic_path="demo::summarise")] == [mine]
    assert store.list_sessions(tactic_path="demo:tools/summarise") == []


def test_a_tactic_saves_under_its_stable_identity(tmp_path):
    runtime = _package_runtime()
    store = sqlite_store(runtime=runtime)
    tactic = Summarise({}, runtime=runtime, log_store=store)
    assert tactic.tactic_path == "demo::summarise"
    session = tactic("hello", return_session=True)
    assert [s.session_id for s in store.list_sessions(tactic_path="tools/summarise")] == [session.session_id]


# -- factories and SQLite specifics ---------------------------------------------------------------
def test_factories_build_the_named_backends(tmp_path):
    assert isinstance(local_store(tmp_path / "a").backend, LocalFileBackend)
    store = sqlite_store(tmp_path / "nested" / "dir" / "s.db", partition="p", runtime=rt)
    assert isinstance(store.backend, SQLiteBackend) and store.partition == "p" and store.runtime is rt
    assert (tmp_path / "nested" / "dir" / "s.db").is_file()
    assert isinstance(noop_store().backend, NoOpBackend)


def test_sqlite_uses_wal_and_reopens_with_its_data(tmp_path):
    path = tmp_path / "s.db"
    store = sqlite_store(path)
    sid = store.save_session(make_session(), tags={"a": "b"})
    assert store.backend._read("PRAGMA journal_mode")[0][0] == "wal"
    store.close()
    again = sqlite_store(path)
    assert [s.session_id for s in again.list_sessions(tags={"a": "b"})] == [sid]


@pytest.mark.parametrize(
    "query",
    [
        SessionQuery("default"),
        SessionQuery("default", tags={"team": "a"}),
        SessionQuery("default", tags={"team": "a", "run": "1"}, tactic_paths=("p::a",)),
        SessionQuery("default", tactic_paths=("p::a", "p::b"), state="success"),
        SessionQuery("default", state="failure", after="2024-01-01T00:00:00.000000+00:00"),
        SessionQuery(
            "default", after="2024-01-01T00:00:00.000000+00:00", before="2024-02-01T00:00:00.000000+00:00", limit=10
        ),
    ],
)
def test_sqlite_list_queries_use_indexes_and_never_scan_the_sessions(query):
    backend = SQLiteBackend(":memory:")
    captured = []
    backend._conn.set_trace_callback(captured.append)
    backend.query_index(query)
    backend._conn.set_trace_callback(None)
    sql = next(s for s in captured if s.lstrip().startswith("SELECT"))
    plan = " | ".join(r[-1] for r in backend._conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall())
    assert "USING" in plan and not re.search(r"\bSCAN (s|kv|t|lllm_\w+)\b(?! USING)", plan), plan


def test_a_full_sqlite_database_reports_its_own_error_and_stays_usable(tmp_path):
    """SQLite rolls a transaction back itself on SQLITE_FULL; a second ROLLBACK must not hide the error."""
    backend = SQLiteBackend(tmp_path / "s.db")
    backend._conn.execute("PRAGMA max_page_count = 20")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        backend.put("p/big", b"x" * 500_000)
    backend.put("p/small", b"y")
    assert backend.get("p/small") == b"y" and backend.get("p/big") is None


# -- local files -------------------------------------------------------------------------------------
def test_local_writes_are_atomic_and_leave_no_partial_file(tmp_path, monkeypatch):
    backend = LocalFileBackend(tmp_path)
    backend.put("p/k", b"old")

    def crash(src, dst):
        raise OSError("crash before the rename")

    monkeypatch.setattr("lllm.logging.file_backend.os.replace", crash)
    with pytest.raises(OSError, match="crash"):
        backend.put("p/k", b"new")
    monkeypatch.undo()
    assert backend.get("p/k") == b"old" and sorted(p.name for p in (tmp_path / "p").iterdir()) == ["k"]


def test_local_listing_skips_temp_files_of_killed_writers(tmp_path):
    backend = LocalFileBackend(tmp_path)
    backend.put("p/sessions/a", b"1")
    (tmp_path / "p" / "sessions" / "b~3f2a.tmp").write_bytes(b"partial")
    assert backend.list_keys() == ["p/sessions/a"]
    store = LogStore(backend, partition="p")
    assert store.list_sessions() == []
