"""Bounded waits in the SQL stores: a lock held by another client fails the operation after the configured bound
with a ``StoreTimeoutError`` naming the store, the operation and the setting; nothing of it is written, and the
store works again once the lock is released.

PostgreSQL runs when ``LLLM_TEST_POSTGRES_DSN`` names a server (``.ci/start-postgres.sh`` starts one); each test
works in a schema of its own, so holding a table lock stalls no other test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from urllib.parse import quote, urlsplit

import pytest

from lllm.logging import (
    LogStore,
    LogStoreError,
    PostgresBackend,
    SQLiteBackend,
    StoreTimeoutError,
    postgres_store,
    sqlite_store,
)
from lllm.logging.conformance import make_session
from lllm.logging.postgres import DEFAULT_BOUNDS, _split_bounds

POSTGRES_DSN = os.environ.get("LLLM_TEST_POSTGRES_DSN")


# -- PostgreSQL ----------------------------------------------------------------------------------
@pytest.fixture
def pg_dsn():
    """A DSN URL whose search_path is a fresh schema (dropped afterwards), or a skip saying why there is none."""
    if not POSTGRES_DSN:
        pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
    if "://" not in POSTGRES_DSN:
        pytest.skip("these tests add query parameters to LLLM_TEST_POSTGRES_DSN: give it as a postgresql:// URL")
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'lllm[postgres]')")
    schema = f"lllm_timeouts_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in POSTGRES_DSN else "?"
    yield POSTGRES_DSN + sep + "options=" + quote(f"-csearch_path={schema}", safe="")
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def holder(pg_dsn):
    """A second client (its own connection, in a transaction once it runs a statement)."""
    import psycopg

    conn = psycopg.connect(_without_bounds(pg_dsn))
    yield conn
    conn.close()


def _without_bounds(dsn: str) -> str:
    return _split_bounds(dsn)[0]


def _sessions(store: LogStore) -> list[str]:
    return store.backend.list_keys(f"{store.partition}/sessions/")


def _check_message(error: StoreTimeoutError, dsn: str, setting: str, seconds: float, doing: str) -> None:
    text = str(error)
    parts = urlsplit(dsn)
    assert parts.password and parts.password not in text  # the DSN is named without its password
    assert f"{parts.hostname}:{parts.port}{parts.path}" in text
    assert doing in text and f"after {seconds:g} s" in text and setting in text
    assert f"PostgresBackend(dsn, {setting}=SECONDS)" in text and "rolled back" in text
    assert (error.setting, error.timeout, error.operation) == (setting, seconds, error.operation)
    assert doing in error.operation and parts.password not in error.store


def test_postgres_save_under_a_held_lock_fails_at_lock_timeout_then_succeeds(pg_dsn, holder):
    store = LogStore(PostgresBackend(pg_dsn, lock_timeout=0.2))
    first = store.save_session(make_session())
    holder.execute("LOCK TABLE lllm_kv IN ACCESS EXCLUSIVE MODE")
    with pytest.raises(StoreTimeoutError) as caught:
        store.save_session(make_session(tactic_name="blocked"))
    _check_message(caught.value, pg_dsn, "lock_timeout", 0.2, "'default/sessions/")  # its id check or its write
    with pytest.raises(StoreTimeoutError, match="listing the sessions of partition 'default'"):
        store.list_sessions()  # what `lllm sessions list` runs
    holder.rollback()  # the lock is released
    second = store.save_session(make_session(tactic_name="after"))  # the same connection, usable again
    assert sorted(s.session_id for s in store.list_sessions()) == sorted([first, second])
    assert len(_sessions(store)) == 2  # the failed save left nothing behind


def test_postgres_failed_save_leaves_no_record_without_its_index_entry(pg_dsn, holder):
    store = LogStore(PostgresBackend(pg_dsn, lock_timeout=0.2))
    first = store.save_session(make_session())
    holder.execute("LOCK TABLE lllm_session_index IN EXCLUSIVE MODE")  # blocks writes to the index, not reads
    with pytest.raises(StoreTimeoutError, match="lock_timeout"):
        store.save_session(make_session(tactic_name="blocked"))
    assert [s.session_id for s in store.list_sessions()] == [first]  # readers still see what was saved
    holder.rollback()
    assert _sessions(store) == [f"default/sessions/{first}"]  # the session record was rolled back with the index


def test_postgres_save_stuck_in_its_index_write_rolls_back_the_record_too(pg_dsn, holder):
    store = LogStore(PostgresBackend(pg_dsn, statement_timeout=0.2))
    first = store.save_session(make_session())
    holder.execute(  # a server stuck on the index row of one session, after the record was written
        "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.tactic_name = 'stuck' THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$; "
        "CREATE TRIGGER stall BEFORE INSERT ON lllm_session_index FOR EACH ROW EXECUTE FUNCTION stall()"
    )
    holder.commit()
    with pytest.raises(StoreTimeoutError) as caught:
        store.save_session(make_session(tactic_name="stuck"))
    assert caught.value.setting == "statement_timeout" and "saving the session" in caught.value.operation
    assert _sessions(store) == [f"default/sessions/{first}"]  # no session record without its index entry
    assert [s.session_id for s in store.list_sessions()] == [first]


def test_postgres_an_operators_cancel_is_not_reported_as_a_timeout(pg_dsn, holder):
    """A cancel (pg_cancel_backend) and a statement timeout share one SQLSTATE; the server's message is in its own
    language, so a statement cancelled well before its bound could trip is told apart by the time it ran."""
    import threading

    import psycopg

    backend = PostgresBackend(pg_dsn, lock_timeout=0, statement_timeout=30)
    pid = backend._conn.info.backend_pid
    holder.execute("LOCK TABLE lllm_kv IN ACCESS EXCLUSIVE MODE")

    def cancel() -> None:
        with psycopg.connect(_without_bounds(pg_dsn), autocommit=True) as admin:
            for _ in range(500):  # until the store's statement waits on the lock
                row = admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
                if row and row[0] == "Lock":
                    admin.execute("SELECT pg_cancel_backend(%s)", (pid,))
                    return
                time.sleep(0.01)

    threading.Thread(target=cancel, daemon=True).start()
    with pytest.raises(psycopg.errors.QueryCanceled):
        backend.get("default/sessions/x")
    holder.rollback()
    assert backend.get("default/sessions/x") is None  # still usable


def test_postgres_statement_timeout_bounds_a_statement_when_lock_timeout_is_off(pg_dsn, holder):
    store = LogStore(PostgresBackend(pg_dsn, lock_timeout=0, statement_timeout=0.2))
    holder.execute("LOCK TABLE lllm_kv IN ACCESS EXCLUSIVE MODE")
    with pytest.raises(StoreTimeoutError) as caught:
        store.backend.get("default/sessions/x")
    _check_message(caught.value, pg_dsn, "statement_timeout", 0.2, "reading 'default/sessions/x'")
    holder.rollback()
    assert store.backend.get("default/sessions/x") is None


def test_postgres_bounds_come_from_the_dsn_and_the_factory(pg_dsn, holder):
    backend = PostgresBackend(pg_dsn + "&lock_timeout=0.25&statement_timeout=7")
    assert backend.bounds == {**DEFAULT_BOUNDS, "lock_timeout": 0.25, "statement_timeout": 7.0}
    holder.execute("LOCK TABLE lllm_kv IN ACCESS EXCLUSIVE MODE")
    with pytest.raises(StoreTimeoutError, match=r"after 0\.25 s: another client held a lock"):
        backend.put("k", b"v")
    holder.rollback()
    explicit = postgres_store(pg_dsn + "&lock_timeout=9", lock_timeout=0.3).backend  # an argument wins
    assert isinstance(explicit, PostgresBackend) and explicit.bounds["lock_timeout"] == 0.3
    holder.execute("LOCK TABLE lllm_kv IN ACCESS EXCLUSIVE MODE")
    with pytest.raises(StoreTimeoutError, match=r"after 0\.3 s"):
        explicit.list_keys()
    holder.rollback()
    assert explicit.list_keys() == [] and backend.get("k") is None


def test_postgres_bounds_survive_a_reconnect(pg_dsn, holder):
    backend = PostgresBackend(pg_dsn, lock_timeout=1.5, idle_in_transaction_session_timeout=4)

    def show(name: str) -> str:
        with backend._tx("reading a setting") as cur:
            return str(cur.execute(f"SHOW {name}").fetchone()[0])

    assert (show("lock_timeout"), show("statement_timeout")) == ("1500ms", "1min")
    pid = backend._conn.info.backend_pid
    holder.execute("SELECT pg_terminate_backend(%s)", (pid,))
    holder.commit()
    with pytest.raises(Exception):  # noqa: B017 - the dropped connection fails this one operation
        backend.get("k")
    assert (show("lock_timeout"), show("idle_in_transaction_session_timeout")) == ("1500ms", "4s")
    assert backend._conn.info.backend_pid != pid


def test_postgres_rejects_a_bound_that_is_not_seconds_without_showing_the_password():
    dsn = "postgresql://me:hunter2secret@127.0.0.1:1/db?lock_timeout=soon"
    with pytest.raises(LogStoreError, match=r"lock_timeout='soon' in the DSN of the PostgreSQL store") as caught:
        PostgresBackend(dsn)
    assert "hunter2secret" not in str(caught.value) and "127.0.0.1:1/db" in str(caught.value)
    with pytest.raises(LogStoreError, match=r"statement_timeout=-1 passed to PostgresBackend"):
        PostgresBackend("postgresql://127.0.0.1:1/db", statement_timeout=-1)


def test_split_bounds_keeps_every_other_parameter_as_written():
    url = "postgresql://u:p@h:5/db?sslmode=require&lock_timeout=2&options=-c%20x%3Dy&statement_timeout=0"
    assert _split_bounds(url) == (
        "postgresql://u:p@h:5/db?sslmode=require&options=-c%20x%3Dy",
        {"lock_timeout": "2", "statement_timeout": "0"},
    )
    assert _split_bounds("postgresql://h/db?lock_timeout=2") == ("postgresql://h/db", {"lock_timeout": "2"})
    keywords = "host=h lock_timeout=2.5 dbname=d idle_in_transaction_session_timeout='9' password=x"
    assert _split_bounds(keywords) == (
        "host=h dbname=d password=x",
        {"lock_timeout": "2.5", "idle_in_transaction_session_timeout": "9"},
    )


# -- SQLite --------------------------------------------------------------------------------------
_HOLD = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


class Holder:
    """Another process holding ``BEGIN EXCLUSIVE`` on an SQLite file until ``release()``."""

    def __init__(self, path: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "locked\n"

    def release(self) -> None:
        self.proc.communicate("go\n", timeout=30)
        assert self.proc.returncode == 0


def test_sqlite_save_under_another_process_lock_fails_at_timeout_then_succeeds(tmp_path):
    path = str(tmp_path / "s.db")
    store = sqlite_store(path, timeout=0.2)
    first = store.save_session(make_session())
    holder = Holder(path)
    try:
        with pytest.raises(StoreTimeoutError) as caught:
            store.save_session(make_session(tactic_name="blocked"))
        text = str(caught.value)
        assert f"The SQLite store '{path}' gave up saving the session 'default/sessions/" in text
        assert "after 0.2 s" in text and "SQLiteBackend(path, timeout=SECONDS)" in text
        assert (caught.value.setting, caught.value.timeout) == ("timeout", 0.2)
        assert [s.session_id for s in store.list_sessions()] == [first]  # WAL: readers are not blocked
    finally:
        holder.release()
    second = store.save_session(make_session(tactic_name="after"))
    assert sorted(s.session_id for s in store.list_sessions()) == sorted([first, second])
    assert len(_sessions(store)) == 2


def test_sqlite_open_under_another_process_lock_is_a_timeout_not_a_broken_store(tmp_path):
    path = str(tmp_path / "s.db")
    SQLiteBackend(path).close()
    holder = Holder(path)
    try:
        with pytest.raises(StoreTimeoutError, match=r"gave up opening the store \(checking its tables\) after 0\.2 s"):
            SQLiteBackend(path, timeout=0.2)
    finally:
        holder.release()
    SQLiteBackend(path, timeout=0.2).close()


def test_sqlite_rejects_a_timeout_that_is_not_seconds(tmp_path):
    with pytest.raises(LogStoreError, match=r"timeout='5s' for the SQLite store"):
        SQLiteBackend(tmp_path / "s.db", timeout="5s")  # type: ignore[arg-type]
