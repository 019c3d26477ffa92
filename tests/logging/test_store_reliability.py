"""Reliability of the session stores: kill -9 mid-save, concurrent writers (threads and processes),
and saving that never masks a tactic's own outcome."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from lllm import Tactic
from lllm.logging import LocalFileBackend, LogStore, local_store, sqlite_store

# A writer process: saves sessions (task = i, ~100 KB each so writes take a while) in a loop and
# prints "<i> <id>" after each save returns.
WRITER = textwrap.dedent("""
    import sys
    from lllm.logging import local_store, sqlite_store
    from lllm.logging.conformance import make_session
    kind, path, start, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = sqlite_store(path) if kind == "sqlite" else local_store(path)
    big = "x" * 100_000
    i = start
    while count < 0 or i < start + count:
        session = make_session(delivery=big)
        session.task = i
        print(i, store.save_session(session, tags={"writer": str(start)}), flush=True)
        i += 1
""")


def _open(kind, path):
    return sqlite_store(path) if kind == "sqlite" else local_store(path)


def _spawn(kind, path, start, count):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, kind, str(path), str(start), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_intact(kind, path, reported):
    """Every reported session loads with its task; every listed session loads; files are whole."""
    store = _open(kind, path)
    listed = {s.session_id for s in store.list_sessions(limit=None)}
    assert set(reported) <= listed
    for sid in listed:
        session = store.load_session(sid)
        if sid in reported:
            assert session.task == reported[sid]
    if kind == "sqlite":
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    else:
        for key in store.backend.list_keys():
            json.loads(store.backend.get(key))
    store.close()
    return listed


@pytest.mark.parametrize("kind", ["sqlite", "local"])
def test_kill_9_mid_save_leaves_the_store_readable_and_earlier_sessions_intact(tmp_path, kind):
    path = tmp_path / ("s.db" if kind == "sqlite" else "store")
    reported = {}
    for round_ in range(4):
        proc = _spawn(kind, path, round_ * 1000, -1)
        seen = 0
        deadline = time.monotonic() + 60
        while seen < 15 + 5 * round_ and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            i, sid = line.split()
            reported[sid] = int(i)
            seen += 1
        time.sleep(0.003 * round_)  # land the kill at different points of a save
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL and seen >= 15, err
        _assert_intact(kind, path, reported)
    if kind == "local":  # a killed writer may leave a temp file; it is never listed
        assert all("~" not in k for k in LocalFileBackend(path).list_keys())


@pytest.mark.parametrize("kind", ["sqlite", "local"])
def test_several_processes_writing_one_store_lose_nothing(tmp_path, kind):
    path = tmp_path / ("s.db" if kind == "sqlite" else "store")
    procs = [_spawn(kind, path, w * 1000, 60) for w in range(4)]
    reported = {}
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        for line in out.splitlines():
            i, sid = line.split()
            reported[sid] = int(i)
    assert len(reported) == 240
    listed = _assert_intact(kind, path, reported)
    assert listed == set(reported)
    store = _open(kind, path)
    assert len(store.list_sessions(tags={"writer": "2000"}, limit=None)) == 60


_OPEN_AT = textwrap.dedent(
    """
    import sys, time
    from lllm.logging import sqlite_store
    while time.time() < float(sys.argv[2]):
        pass
    sqlite_store(sys.argv[1]).close()
    """
)


def test_processes_opening_one_new_sqlite_file_at_the_same_instant_all_open_it(tmp_path):
    # switching a new file to WAL can answer "database is locked" at once, without SQLite's busy wait: the store
    # retries it until its timeout (before, about 1 open in 25 failed here)
    failures = []
    for round_ in range(4):
        path, start = tmp_path / f"s{round_}.db", time.time() + 1.0
        procs = [
            subprocess.Popen([sys.executable, "-c", _OPEN_AT, str(path), str(start)], stderr=subprocess.PIPE, text=True)
            for _ in range(6)
        ]
        failures += [err for p in procs for _, err in [p.communicate(timeout=60)] if p.returncode]
    assert not failures, failures[0]


@pytest.mark.parametrize("kind", ["sqlite-file", "sqlite-memory", "local"])
def test_threads_sharing_one_store_lose_nothing(tmp_path, kind):
    from lllm.logging.conformance import make_session

    store = (
        sqlite_store(tmp_path / "s.db")
        if kind == "sqlite-file"
        else sqlite_store(":memory:")
        if kind == "sqlite-memory"
        else local_store(tmp_path / "store")
    )
    ids, errors = [], []

    def writer(t):
        try:
            for i in range(40):
                session = make_session()
                session.task = f"{t}-{i}"
                ids.append(store.save_session(session, tags={"t": str(t)}))
                store.list_sessions(tags={"t": str(t)}, limit=5)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(set(ids)) == 320
    assert {s.session_id for s in store.list_sessions(limit=None)} == set(ids)
    assert {store.load_session(i).task for i in ids} == {f"{t}-{i}" for t in range(8) for i in range(40)}


# -- saving never masks the outcome ------------------------------------------------------------------
class BrokenBackend(LocalFileBackend):
    """Stores sessions but fails on the index write, like a disk that fills up mid-save."""

    def put(self, key, data):
        if "/index/" in key:
            raise OSError("disk full")
        super().put(key, data)


class Echo(Tactic, register=False):
    name = "echo"

    def call(self, task):
        if task == "fail":
            raise LookupError("the tactic's own error")
        return task.upper()


def _store_warnings(caplog):
    return [r for r in caplog.records if r.name.startswith("lllm") and r.levelno >= logging.WARNING]


def test_a_failing_store_never_masks_the_result_and_is_reported_once(tmp_path, caplog):
    tactic = Echo({}, log_store=LogStore(BrokenBackend(tmp_path)))
    with caplog.at_level(logging.WARNING, logger="lllm"):
        assert tactic("ok") == "OK"
    (record,) = _store_warnings(caplog)
    assert "saving the session failed" in record.getMessage() and "disk full" in record.exc_text


def test_a_failing_store_never_masks_the_exception_and_is_reported_once(tmp_path, caplog):
    tactic = Echo({}, log_store=LogStore(BrokenBackend(tmp_path)))
    with caplog.at_level(logging.WARNING, logger="lllm"):
        with pytest.raises(LookupError, match="the tactic's own error"):
            tactic("fail")
    assert len(_store_warnings(caplog)) == 1


def test_a_closed_sqlite_store_never_masks_the_result(tmp_path, caplog):
    store = sqlite_store(tmp_path / "s.db")
    store.close()
    with caplog.at_level(logging.WARNING, logger="lllm"):
        assert Echo({}, log_store=store)("ok") == "OK"
    assert len(_store_warnings(caplog)) == 1
