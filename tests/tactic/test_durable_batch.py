"""Durable batches: ``bcall(..., batch_id=...)`` re-runs only the tasks that have not succeeded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lllm import Tactic
from lllm.logging import sqlite_store

ROOT = Path(__file__).resolve().parents[2]


class Flaky(Tactic, register=False):
    name = "flaky"
    runs: list = []
    fail_on: set = set()

    def call(self, task: str) -> str:
        Flaky.runs.append(task)
        if task in Flaky.fail_on:
            raise RuntimeError(f"failed on {task}")
        return task.upper()


class AsyncFlaky(Flaky, register=False):
    async def call(self, task: str) -> str:
        return Flaky.call(self, task)


@pytest.mark.parametrize("cls", [Flaky, AsyncFlaky])
def test_rerunning_a_batch_runs_only_what_did_not_succeed(tmp_path, cls):
    store = sqlite_store(tmp_path / "s.db")
    t = cls({}, log_store=store)
    Flaky.runs, Flaky.fail_on = [], {"b", "d"}
    out = t.bcall(list("abcde"), fail_fast=False, batch_id="nightly", max_workers=2)
    assert [o if isinstance(o, str) else "ERR" for o in out] == ["A", "ERR", "C", "ERR", "E"]
    Flaky.runs, Flaky.fail_on = [], set()
    assert t.bcall(list("abcde"), batch_id="nightly") == ["A", "B", "C", "D", "E"]
    assert sorted(Flaky.runs) == ["b", "d"]
    Flaky.runs = []
    assert t.bcall(list("abcde"), batch_id="nightly") == ["A", "B", "C", "D", "E"] and Flaky.runs == []
    tags = store.list_sessions(tags={"lllm.batch_id": "nightly", "lllm.batch_index": "1"}, state="success")[0].tags
    assert tags["lllm.batch_index"] == "1"


def test_batch_id_needs_a_store_and_the_same_tasks(tmp_path):
    with pytest.raises(ValueError, match="batch_id needs a log_store"):
        Flaky({}).bcall(["a"], batch_id="x")
    t = Flaky({}, log_store=sqlite_store(tmp_path / "s.db"))
    Flaky.fail_on = set()
    t.bcall(["a", "b"], batch_id="x")
    with pytest.raises(ValueError, match="different task at index 0"):
        t.bcall(["z", "b"], batch_id="x")


def test_a_batch_survives_a_hard_crash(tmp_path):
    """A real process dies (os._exit) in the middle of a batch; the re-run finishes only the rest."""
    db = tmp_path / "crash.db"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from lllm import Tactic
        from lllm.logging import sqlite_store

        class Crashy(Tactic, register=False):
            name = "crashy"
            def call(self, task):
                if task == "c":
                    os._exit(9)   # no cleanup, no finally: like kill -9
                return task * 2

        Crashy({{}}, log_store=sqlite_store({str(db)!r})).bcall(list("abcde"), batch_id="b1", max_workers=1)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr

    runs = []

    class Crashy(Tactic, register=False):
        name = "crashy"

        def call(self, task):
            runs.append(task)
            return task * 2

    out = Crashy({}, log_store=sqlite_store(db)).bcall(list("abcde"), batch_id="b1", max_workers=1)
    assert out == ["aa", "bb", "cc", "dd", "ee"] and runs == ["c", "d", "e"]
