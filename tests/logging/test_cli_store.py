"""``--store`` given a PostgreSQL DSN: ``lllm sessions``, ``run``, ``replay`` and ``eval`` open that database, as
``lllm ui`` and ``lllm serve`` do, instead of a local folder named after the DSN (password included)."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from lllm.cli import main
from lllm.logging.cli import open_store


def test_an_unreachable_dsn_is_reported_as_such_without_its_password(tmp_path, monkeypatch, capsys):
    pytest.importorskip("psycopg", reason="needs lllm[postgres] (psycopg 3)")
    monkeypatch.chdir(tmp_path)
    assert main(["sessions", "list", "--store", "postgresql://bob:TopSecret99@127.0.0.1:1/db"]) == 1
    err = capsys.readouterr().err
    assert "TopSecret99" not in err and "Connection refused" in err
    assert list(tmp_path.iterdir()) == []  # no folder "postgresql:" with the password in its name


def test_sessions_list_reads_a_postgres_store(tmp_path, monkeypatch, capsys):
    dsn = os.environ.get("LLLM_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
    from lllm.logging import postgres_store
    from lllm.logging.conformance import make_session

    mark = uuid.uuid4().hex
    saver = postgres_store(dsn)
    sid = saver.save_session(make_session(), tags={"s7": mark})
    saver.close()
    monkeypatch.chdir(tmp_path)
    store = open_store(dsn, create=False)
    try:
        assert [s.session_id for s in store.list_sessions(tags={"s7": mark})] == [sid]
    finally:
        store.close()
    assert main(["sessions", "list", "--store", dsn, "--tag", f"s7={mark}", "--json"]) == 0
    assert [s["session_id"] for s in json.loads(capsys.readouterr().out)] == [sid]
    assert list(tmp_path.iterdir()) == []


def test_a_store_path_from_the_environment_may_start_with_a_tilde(tmp_path, monkeypatch, capsys):
    """``$LLLM_STORE=~/...`` set where no shell expands it (an env file, a service unit) is the home folder's
    store, as ``--store`` finds its project there, not a folder named ``~`` under the current directory."""
    from lllm.logging import sqlite_store
    from lllm.logging.conformance import make_session

    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    sid = sqlite_store(home / "lllm" / "sessions.db").save_session(make_session())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LLLM_STORE", "~/lllm/sessions.db")
    monkeypatch.chdir(work)
    assert main(["sessions", "list", "--json"]) == 0
    assert [s["session_id"] for s in json.loads(capsys.readouterr().out)] == [sid]
    assert list(work.iterdir()) == []


def test_a_time_bound_that_is_not_a_time_names_the_option_and_the_forms_it_takes(tmp_path, capsys):
    from lllm.logging import sqlite_store

    sqlite_store(tmp_path / "s.db").close()
    assert main(["sessions", "list", "--store", str(tmp_path / "s.db"), "--after", "yesterday"]) == 1
    err = capsys.readouterr().err
    assert "after" in err and "'yesterday'" in err and "ISO-8601" in err


@pytest.mark.parametrize("name", ["sessions.DB", "runs.sqlite.bak", "history"])
def test_an_existing_sqlite_file_opens_as_sqlite_whatever_its_name(tmp_path, monkeypatch, capsys, name):
    from lllm.logging import sqlite_store
    from lllm.logging.conformance import make_session

    store = sqlite_store(tmp_path / name)
    sid = store.save_session(make_session())
    store.close()
    assert main(["sessions", "list", "--store", str(tmp_path / name), "--json"]) == 0
    assert [s["session_id"] for s in json.loads(capsys.readouterr().out)] == [sid]


def test_replaying_a_session_whose_tactic_is_not_loaded_says_how_to_load_it_from_the_cli(tmp_path, monkeypatch, capsys):
    from lllm.logging import sqlite_store
    from lllm.logging.conformance import make_session

    store = sqlite_store(tmp_path / "s.db")
    sid = store.save_session(make_session())  # tactic demo::pair, from no project here
    store.close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLLM_CONFIG", raising=False)
    assert main(["replay", sid, "--store", str(tmp_path / "s.db")]) == 1
    err = capsys.readouterr().err
    assert "'demo::pair'" in err and "project" in err and "LLLM_CONFIG" in err
