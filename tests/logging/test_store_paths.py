"""A store path that is the wrong kind of thing (a text file, a folder, an SQLite file given as a JSON
store) is refused with a ``LogStoreError`` naming it, through the API and the CLI, and left untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lllm.logging import LogStoreError, local_store, sqlite_store

NOTES = b"my notes, not a database\n" * 10


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("name", ["notes.db", "notes.txt", "notes.sqlite3"])
def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(NOTES)
    before = _snapshot(tmp_path)
    with pytest.raises(
        LogStoreError,
        match=rf"SQLite store path '.*{name}' is not an SQLite database.*untouched"
        r".*new file.*folder for a JSON store",
    ):
        sqlite_store(path)
    assert _snapshot(tmp_path) == before  # same bytes, and no -wal/-shm files beside it


def test_sqlite_refuses_a_damaged_database_naming_it(tmp_path):
    path = tmp_path / "broken.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)  # the magic, then garbage
    before = _snapshot(tmp_path)
    with pytest.raises(LogStoreError, match=r"SQLite store '.*broken\.db' cannot be used.*untouched"):
        sqlite_store(path)
    assert _snapshot(tmp_path) == before


def test_sqlite_refuses_a_folder_and_points_to_the_json_store(tmp_path):
    with pytest.raises(LogStoreError, match=r"is a folder.*sessions\.db.*local_store"):
        sqlite_store(tmp_path)


def test_the_json_store_refuses_a_file(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(NOTES)
    with pytest.raises(LogStoreError, match=r"JSON store path '.*notes\.txt' is a file, not a folder.*untouched"):
        local_store(notes)
    db = tmp_path / "real.db"
    sqlite_store(db).close()
    with pytest.raises(LogStoreError, match=r"is an SQLite database: open it with sqlite_store"):
        local_store(db)
    assert notes.read_bytes() == NOTES
    with pytest.raises(LogStoreError, match=r"Cannot create the JSON store folder '.*notes\.txt.sub'"):
        local_store(notes / "sub")


@pytest.mark.parametrize("name", ["sessions.db", "runs.SQLite", "store.sqlite3"])
def test_the_json_store_refuses_a_new_path_named_like_an_sqlite_file(tmp_path, name):
    """``local_store("sessions.db")`` is a mix-up with ``sqlite_store``: it would make a folder the CLI cannot open."""
    with pytest.raises(
        LogStoreError,
        match=rf"JSON store path '.*{name}' is named like an SQLite file.*none was created"
        rf".*sqlite_store\('.*{name}'\)",
    ):
        local_store(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_json_store_folder_named_like_an_sqlite_file_still_opens(tmp_path):
    (tmp_path / "old.db").mkdir()  # made before the check: its sessions stay reachable
    assert local_store(tmp_path / "old.db").list_sessions() == []


def test_an_empty_file_becomes_a_new_sqlite_store(tmp_path):
    path = tmp_path / "fresh.db"
    path.touch()
    assert sqlite_store(path).list_sessions() == []


@pytest.mark.parametrize("name,how", [("notes.txt", "env"), ("notes.db", "env"), ("notes.db", "flag")])
def test_lllm_sessions_list_names_the_bad_store(tmp_path, name, how):
    path = tmp_path / name
    path.write_bytes(NOTES)
    env = {k: v for k, v in os.environ.items() if k != "LLLM_STORE"}
    args = [sys.executable, "-m", "lllm.cli", "sessions", "list"]
    if how == "env":
        env["LLLM_STORE"] = str(path)
    else:
        args += ["--store", str(path)]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and "untouched" in proc.stderr, proc.stderr
    assert path.read_bytes() == NOTES and sorted(p.name for p in tmp_path.iterdir()) == [name]
