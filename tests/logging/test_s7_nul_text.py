"""A session whose task or tags hold a NUL character (text pulled from a PDF often does) is saved, listed and
searched on every backend as in the reference semantics (PostgreSQL text and JSONB cannot hold NUL)."""

from __future__ import annotations

import os
import uuid

import pytest

from lllm.logging import LogStore, local_store, sqlite_store
from lllm.logging.conformance import make_session

DSN = os.environ.get("LLLM_TEST_POSTGRES_DSN")


@pytest.fixture(params=["local", "sqlite", "postgres", "postgres-scan"])
def store(request, tmp_path):
    partition = f"s7nul_{uuid.uuid4().hex[:12]}"
    if request.param == "local":
        s = local_store(tmp_path / "store", partition=partition)
    elif request.param == "sqlite":
        s = sqlite_store(tmp_path / "s.db", partition=partition)
    else:
        if not DSN:
            pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
        pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'lllm[postgres]')")
        from lllm.logging import PostgresBackend

        backend = PostgresBackend(DSN)
        if request.param == "postgres-scan":
            backend.search_index = "scan"
        s = LogStore(backend, partition=partition)
    yield s
    s.close()


def test_a_nul_in_the_task_and_tags_is_saved_listed_and_searched(store):
    session = make_session()
    session.task = "page one\x00page two"
    sid = store.save_session(session, tags={"source": "scan\x00ned"})
    other = store.save_session(make_session(), tags={"source": "typed"})
    assert store.load_session(sid).task == "page one\x00page two"
    assert [s.session_id for s in store.list_sessions(text="page two")] == [sid]
    assert [s.session_id for s in store.list_sessions(text="one\x00page")] == [sid]
    assert [s.session_id for s in store.list_sessions(tags={"source": "scan\x00ned"})] == [sid]
    assert [s.session_id for s in store.list_sessions(tags={"source": "typed"})] == [other]
    (row,) = [s for s in store.list_sessions() if s.session_id == sid]
    assert row.task_preview == "page one\x00page two" and row.tags == {"source": "scan\x00ned"}


def test_a_lone_surrogate_in_the_task_and_tags_round_trips(store):
    """What Python makes of undecodable bytes (``surrogateescape``: argv, stdin, file names in a C/UTF-8
    locale) is a valid ``str``; the session is saved and loads back as it was."""
    session = make_session()
    session.task = "caf\udce9 au lait"
    sid = store.save_session(session, tags={"file": "r\udce9sum\udce9.txt"})
    assert store.load_session(sid).task == "caf\udce9 au lait"
    assert store.load_session_record(sid).tags == {"file": "r\udce9sum\udce9.txt"}
    assert [s.session_id for s in store.list_sessions(text="au lait")] == [sid]
    assert [s.session_id for s in store.list_sessions(tags={"file": "r\udce9sum\udce9.txt"})] == [sid]
    assert store.list_sessions()[0].task_preview == "caf\udce9 au lait"
