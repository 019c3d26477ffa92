"""A session whose task or tags hold a NUL character (text pulled from a PDF often does) is saved, listed and
searched on every backend as in the reference semantics (PostgreSQL text and JSONB cannot hold NUL)."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from lllm.logging import LogStore, SQLiteBackend, local_store, sqlite_store
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


def test_a_session_with_a_lone_surrogate_exports_as_valid_utf8_json(store, tmp_path):
    from lllm.cli import main

    session = make_session()
    session.task = "caf\udce9"
    sid = store.save_session(session)
    text = store.export_session(sid)
    assert json.loads(text.encode("utf-8"))["session"]["task"] == "caf\udce9"  # encodes: any sink takes it
    if isinstance(store.backend, SQLiteBackend):  # and `lllm sessions export -o FILE` writes it
        cli = sqlite_store(tmp_path / "cli.db")  # the CLI reads the default partition
        sid = cli.save_session(session)
        assert (
            main(["sessions", "export", sid, "--store", str(tmp_path / "cli.db"), "-o", str(tmp_path / "x.json")]) == 0
        )
        assert json.loads((tmp_path / "x.json").read_bytes())["session"]["task"] == "caf\udce9"
