"""Compatibility: sessions written by store schema version 1 (checked-in fixtures) still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lllm import Dialog, Roles
from lllm.logging import STORE_SCHEMA_VERSION, LogStore, SQLiteBackend, local_store

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1"
SUCCESS, FAILURE = "20261126_073013_a0b60c6d", "20261126_073013_75f15526"


@pytest.fixture
def v1_store(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "store")  # never write into the fixture
    return local_store(tmp_path / "store")


def test_the_fixture_is_version_1_and_this_library_reads_it():
    assert STORE_SCHEMA_VERSION >= 1
    for kind in ("sessions", "index"):
        for path in (FIXTURE / "default" / kind).iterdir():
            assert json.loads(path.read_bytes())["schema_version"] == 1


def test_version_1_sessions_list_and_load(v1_store):
    assert [s.session_id for s in v1_store.list_sessions(tags={"run": "fixture"})] == [FAILURE, SUCCESS]
    record = v1_store.load_session_record(SUCCESS)
    session = record.session
    assert record.metadata == {"note": "written by store schema version 1"} and record.traceback is None
    assert session.state == "success" and session.tactic_name == "pipeline" and session.schema_version == 1
    assert session.delivery_type == "test_store_e2e.Report" and set(session.delivery) == {"title", "points"}
    assert session.agent_call_count == 2 and session.total_cost.prompt_tokens > 0
    researcher = session.agent_sessions["researcher"][0]
    (calls,) = researcher.interrupts.values()
    assert calls[0].name == "lookup_fact" and calls[0].arguments and "long history" in calls[0].result_str
    assert all(t.request["messages"] for ts in researcher.invoke_traces.values() for t in ts)
    assert not any(t.replayed for ts in researcher.invoke_traces.values() for t in ts)  # a field added later
    assert session.spent_cost == session.total_cost  # recorded before replays were marked: all of it was paid
    with pytest.warns(RuntimeWarning):  # the fixture's prompts are not registered here
        dialog = Dialog.from_dict(session.dialogs["researcher"][0])
    assert dialog.messages[0].role == Roles.SYSTEM and any(m.role == Roles.TOOL for m in dialog.messages)


def test_version_1_failures_keep_their_error(v1_store):
    record = v1_store.load_session_record(FAILURE)
    assert record.session.state == "failure" and record.session.error == "RuntimeError: after both agents ran"
    assert record.traceback.startswith("Traceback") and "in call" in record.traceback
    assert v1_store.list_sessions(state="failure")[0].session_id == FAILURE


def test_version_1_records_load_from_any_backend():
    store = LogStore(SQLiteBackend(":memory:"))
    store.backend.put(f"default/sessions/{SUCCESS}", (FIXTURE / "default" / "sessions" / SUCCESS).read_bytes())
    assert store.load_session(SUCCESS).tactic_name == "pipeline"
    assert json.loads(store.export_session(SUCCESS))["session_id"] == SUCCESS


# ---------------------------------------------------------------------------------------------
# Table schema: a database written before leases (version 1) opens and gains them
# ---------------------------------------------------------------------------------------------
SQLITE_V1 = Path(__file__).parent / "fixtures" / "sqlite_v1.db"


def test_a_version_1_sqlite_database_opens_lists_and_gains_leases(tmp_path):
    import sqlite3

    from lllm.logging import sqlite_store
    from lllm.logging.backends import SQL_SCHEMA_VERSION

    db = tmp_path / "old.db"
    shutil.copy(SQLITE_V1, db)  # never write into the fixture
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'lllm_leases'").fetchone()[0] == 0
    store = sqlite_store(db)
    assert [s.session_id for s in store.list_sessions(tags={"run": "fixture"})] == [FAILURE, SUCCESS]
    assert store.load_session(SUCCESS).tactic_name == "pipeline"
    assert store.acquire_lease("batch/x/0", "A", 30) and not store.acquire_lease("batch/x/0", "B", 30)
    store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SQL_SCHEMA_VERSION == 3
    reopened = sqlite_store(db)  # reopens as the current version, with the backfilled index columns
    assert [s.session_id for s in reopened.list_sessions()] == [FAILURE, SUCCESS]
    assert [s.session_id for s in reopened.list_sessions(text="TEA", model="tes")] == [SUCCESS]


def test_a_newer_sqlite_table_schema_is_refused_clearly(tmp_path):
    import sqlite3

    from lllm.logging import LogStoreError, sqlite_store

    db = tmp_path / "new.db"
    sqlite_store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(LogStoreError, match=r"'.*new\.db' has table schema version 99.*upgrade lllm"):
        sqlite_store(db)


V1_POSTGRES_SCHEMA = [  # the tables as lllm wrote them before leases (no lllm_meta, no lllm_leases)
    'CREATE TABLE lllm_kv (key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL)',
    'CREATE TABLE lllm_session_index (key TEXT COLLATE "C" PRIMARY KEY, partition TEXT COLLATE "C" NOT NULL,'
    ' session_id TEXT COLLATE "C" NOT NULL, tactic_path TEXT COLLATE "C", state TEXT COLLATE "C",'
    " ts TEXT COLLATE \"C\" NOT NULL, tags JSONB NOT NULL DEFAULT '{}'::jsonb)",
]


def test_a_version_1_postgres_database_opens_and_gains_leases():
    import os
    import uuid
    from urllib.parse import quote

    dsn = os.environ.get("LLLM_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'lllm[postgres]')")
    from lllm.logging import LogStoreError, postgres_store

    _postgres()  # pg_trgm in public: the store's search index uses it from there
    schema = f"lllm_v1_{uuid.uuid4().hex[:10]}"
    scoped = dsn + ("&" if "?" in dsn else "?") + "options=" + quote(f"-csearch_path={schema}")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            with psycopg.connect(scoped, autocommit=True) as old:
                for statement in V1_POSTGRES_SCHEMA:
                    old.execute(statement)
                for kind in ("sessions", "index"):
                    data = (FIXTURE / "default" / kind / SUCCESS).read_bytes()
                    old.execute("INSERT INTO lllm_kv (key, value) VALUES (%s, %s)", (f"default/{kind}/{SUCCESS}", data))
                entry = json.loads((FIXTURE / "default" / "index" / SUCCESS).read_bytes())
                old.execute(
                    "INSERT INTO lllm_session_index (key, partition, session_id, tactic_path, state, ts, tags) "
                    "VALUES (%s, 'default', %s, %s, %s, %s, %s::jsonb)",
                    (
                        f"default/index/{SUCCESS}",
                        SUCCESS,
                        entry["tactic_path"],
                        entry["state"],
                        entry["timestamp"],
                        json.dumps(entry["tags"]),
                    ),
                )
            store = postgres_store(scoped)
            assert [s.session_id for s in store.list_sessions(tags={"run": "fixture"})] == [SUCCESS]
            assert store.load_session(SUCCESS).tactic_name == "pipeline"
            assert store.acquire_lease("batch/x/0", "A", 30) and not store.acquire_lease("batch/x/0", "B", 30)
            (summary,) = store.list_sessions(model="TEST", text="te", sort="calls")
            assert (summary.models, summary.task_preview, summary.agent_call_count) == (["test"], "tea", 2)
            store.close()
            with psycopg.connect(scoped, autocommit=True) as conn:
                assert conn.execute("SELECT value FROM lllm_meta WHERE name = 'schema_version'").fetchone()[0] == "4"
                row = conn.execute(
                    "SELECT tactic_name, agent_calls, models, task_preview FROM lllm_session_index"
                ).fetchone()
                assert row == ("pipeline", 2, "test", "tea")  # backfilled from the stored entry and session
                conn.execute("UPDATE lllm_meta SET value = '99' WHERE name = 'schema_version'")
            with pytest.raises(LogStoreError, match="schema version 99.*upgrade lllm"):
                postgres_store(scoped)
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def _postgres() -> tuple:
    import os

    dsn = os.environ.get("LLLM_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'lllm[postgres]')")
    with psycopg.connect(dsn, autocommit=True) as admin:  # in public, so dropping a test schema never drops it
        try:
            admin.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        except psycopg.Error:
            pass  # the stores then fall back to the B-tree search index
    return dsn, psycopg


def _indexes(conn: Any) -> set:
    return {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'lllm_session_index'")}


def test_a_version_3_postgres_table_gains_a_trigram_search_index_in_place():
    import uuid

    dsn, psycopg = _postgres()  # skips, saying why, before anything imports psycopg
    from psycopg.conninfo import make_conninfo

    from lllm.logging import postgres_store
    from lllm.logging.postgres import PG_SCHEMA_VERSION

    schema = f"lllm_v3_{uuid.uuid4().hex[:10]}"
    scoped = make_conninfo(dsn, options=f"-csearch_path={schema},public")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            store = postgres_store(scoped)
            for task in ("brew tea", "grind coffee"):
                s = local_store_session(task)
                store.save_session(s)
            store.close()
            with psycopg.connect(scoped, autocommit=True) as conn:  # as version 3 left it: no search index
                conn.execute("DROP INDEX lllm_si_task_trgm, lllm_si_models_trgm")
                conn.execute("DELETE FROM lllm_meta WHERE name = 'search_index'")
                conn.execute("UPDATE lllm_meta SET value = '3' WHERE name = 'schema_version'")
            store = postgres_store(scoped)
            assert store.backend.search_index == "pg_trgm" and PG_SCHEMA_VERSION == 4
            assert [x.task_preview for x in store.list_sessions(text="COFF")] == ["grind coffee"]
            assert len(store.list_sessions(model="tes")) == 2 and store.list_sessions(text="%") == []
            store.close()
            with psycopg.connect(scoped, autocommit=True) as conn:
                meta = dict(conn.execute("SELECT name, value FROM lllm_meta").fetchall())
                assert meta == {"schema_version": "4", "search_index": "pg_trgm"}
                assert {"lllm_si_task_trgm", "lllm_si_models_trgm"} <= _indexes(conn)
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def test_without_pg_trgm_the_store_searches_by_scanning_and_says_so(caplog):
    """A role that may not install extensions, in a database without pg_trgm: text filters scan (and still
    match any case, escaping LIKE's wildcards), a warning names the fix, and the trigram index is built once
    an owner installs the extension."""
    import uuid

    dsn, psycopg = _postgres()  # skips, saying why, before anything imports psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from lllm.logging import postgres_store

    tag = uuid.uuid4().hex[:10]
    db, role = f"lllm_notrgm_{tag}", f"lllm_plain_{tag}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        try:
            admin.execute(f"CREATE DATABASE {db}")
            admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'plain-pw'")
        except psycopg.errors.InsufficientPrivilege as e:
            admin.execute(f"DROP DATABASE IF EXISTS {db}")
            pytest.skip(f"the test DSN's role may not create a database and a role: {e}")
        try:
            owner_dsn = make_conninfo(dsn, dbname=db)
            with psycopg.connect(owner_dsn, autocommit=True) as owner:
                owner.execute(f"CREATE SCHEMA data AUTHORIZATION {role}")
            plain = make_conninfo(dsn, dbname=db, user=role, password="plain-pw", options="-csearch_path=data,public")
            assert conninfo_to_dict(plain)["user"] == role
            with caplog.at_level("WARNING", logger="lllm.logging.postgres"):
                store = postgres_store(plain)
            assert store.backend.search_index == "scan"
            assert "cannot install it" in caplog.text and "CREATE EXTENSION pg_trgm" in caplog.text
            store.save_session(local_store_session("steep green tea"))
            store.save_session(local_store_session("100% black tea"))
            assert [x.task_preview for x in store.list_sessions(text="GREEN")] == ["steep green tea"]
            assert [x.task_preview for x in store.list_sessions(text="0% B", model="TES")] == ["100% black tea"]
            assert store.list_sessions(text="_") == [] and len(store.list_sessions(text="tea")) == 2
            store.close()
            with psycopg.connect(owner_dsn, autocommit=True) as owner:
                assert not {"lllm_si_task_trgm", "lllm_si_models_trgm"} & _indexes(owner)
                meta = dict(owner.execute("SELECT name, value FROM data.lllm_meta").fetchall())
                assert meta == {"schema_version": "4", "search_index": "scan"}
                owner.execute("CREATE EXTENSION pg_trgm")
            store = postgres_store(plain)  # the next open builds the trigram index and drops the fallback
            assert store.backend.search_index == "pg_trgm"
            assert [x.task_preview for x in store.list_sessions(text="een t")] == ["steep green tea"]
            store.close()
            with psycopg.connect(owner_dsn, autocommit=True) as owner:
                assert {"lllm_si_task_trgm", "lllm_si_models_trgm"} <= _indexes(owner)
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def local_store_session(task: str) -> Any:
    """A finished one-agent session on the test model, its task ``task``."""
    from lllm import Tactic

    class Echo(Tactic, register=False):
        name = "echo"
        agent_group = ["echo"]

        def call(self, t: str) -> str:
            a = self.agents["echo"]
            a.open("main")
            a.receive(t)
            return a.respond().content

    config = {"global": {"model_name": "test"}, "agent_configs": [{"name": "echo", "system_prompt": "Echo."}]}
    return Echo(config)(task, return_session=True)


# ---------------------------------------------------------------------------------------------
# Store schema 2 / table schema 3: index entries carry models and a task preview (indexed columns)
# ---------------------------------------------------------------------------------------------
SQLITE_V2 = Path(__file__).parent / "fixtures" / "sqlite_v2.db"


def test_a_version_2_sqlite_database_is_migrated_in_place_and_backfilled(tmp_path):
    import sqlite3

    from lllm.logging import sqlite_store

    db = tmp_path / "v2.db"
    shutil.copy(SQLITE_V2, db)  # never write into the fixture
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        columns = {r[1] for r in conn.execute("PRAGMA table_info(lllm_session_index)")}
        assert "task_preview" not in columns and "total_cost" not in columns
    store = sqlite_store(db)
    by_id = {s.session_id: s for s in store.list_sessions()}
    assert (by_id[SUCCESS].models, by_id[SUCCESS].task_preview, by_id[SUCCESS].agent_call_count) == (["test"], "tea", 2)
    assert by_id[FAILURE].task_preview == "coffee"
    assert [s.session_id for s in store.list_sessions(text="coff")] == [FAILURE]
    assert [s.session_id for s in store.list_sessions(tactic_name="broken")] == [FAILURE]
    assert [s.session_id for s in store.list_sessions(sort="oldest")] == [SUCCESS, FAILURE]
    assert store.list_sessions(model="gpt") == [] and len(store.list_sessions(model="TEST", max_cost=0)) == 2
    store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        rows = conn.execute("SELECT session_id, agent_calls, models, task_preview FROM lllm_session_index").fetchall()
        assert sorted(rows) == [(FAILURE, 2, "test", "coffee"), (SUCCESS, 2, "test", "tea")]
        (raw,) = conn.execute("SELECT value FROM lllm_kv WHERE key = ?", (f"default/index/{SUCCESS}",)).fetchone()
    entry = json.loads(raw)  # the stored entry itself was rewritten in the current format
    assert entry["schema_version"] == STORE_SCHEMA_VERSION == 2 and entry["models"] == ["test"]


def test_version_1_json_index_entries_are_upgraded_in_place_on_first_listing(v1_store, tmp_path):
    index = tmp_path / "store" / "default" / "index" / SUCCESS
    assert "task_preview" not in json.loads(index.read_bytes())
    (summary,) = v1_store.list_sessions(text="tea")
    assert (summary.session_id, summary.models, summary.task_preview) == (SUCCESS, ["test"], "tea")
    entry = json.loads(index.read_bytes())
    assert entry["schema_version"] == 2 and entry["task_preview"] == "tea" and entry["models"] == ["test"]
    assert entry["tactic_name"] == "pipeline" and entry["agent_call_count"] == 2  # the rest is kept
    assert [s.session_id for s in local_store(tmp_path / "store").list_sessions(sort="calls")] == [FAILURE, SUCCESS]


def test_load_record_returns_the_stored_json_as_is(v1_store):
    record = v1_store.load_record(SUCCESS)
    stored = json.loads((FIXTURE / "default" / "sessions" / SUCCESS).read_bytes())
    assert record == stored and record["schema_version"] == 1
    with pytest.raises(KeyError, match="'default'"):
        v1_store.load_record("20990101_000000_00000000")
