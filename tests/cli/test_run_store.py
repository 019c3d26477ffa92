"""`lllm run` closes the session store it opened, whether the tactic succeeds or raises: `main()` is called
in-process by embedders and tests, where an open SQLite file (and its descriptor) would outlive the call."""

from __future__ import annotations

import os
from pathlib import Path

from support.pkgtree import write_tree

from lllm.cli import main

ECHO = """
from lllm import Tactic

class Echo(Tactic):
    name = "echo"

    def call(self, task: str) -> str:
        if task == "boom":
            raise ValueError("asked to fail")
        return task
"""


def open_descriptors(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path`` (or its journal files)."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        found += target.startswith(str(path))
    return found


def test_run_closes_its_store_after_success_and_failure(tmp_path, monkeypatch, capsys):
    project = write_tree(tmp_path / "proj", {"lllm.toml": '[package]\nname = "proj"\n', "tactics/echo.py": ECHO})
    monkeypatch.chdir(project)
    db = tmp_path / "runs.db"
    assert main(["run", "echo", "hi", "--store", str(db)]) == 0
    assert open_descriptors(db) == 0
    assert main(["run", "echo", "boom", "--store", str(db)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "Error: asked to fail"
    assert open_descriptors(db) == 0
    from lllm.logging import sqlite_store

    store = sqlite_store(db)  # both runs were recorded before the store was closed
    assert sorted(s.state for s in store.list_sessions()) == ["failure", "success"]
    store.close()
