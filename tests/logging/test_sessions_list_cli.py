"""`lllm sessions list --sort/--model/--text` over a real SQLite store, in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from lllm.logging import sqlite_store
from lllm.logging.conformance import BASE_TIME, make_session

ROOT = Path(__file__).resolve().parents[2]


def test_sessions_list_sorts_and_filters_by_the_indexed_columns(tmp_path):
    store = sqlite_store(tmp_path / "s.db")
    ids = []
    for i, cost in enumerate([0.5, 2.0, 1.0]):
        session = make_session(cost=cost, started_at=BASE_TIME + timedelta(minutes=i))
        session.task = ["plan a trip to Kyoto", "sum the invoices", "Kyoto again"][i]
        ids.append(store.save_session(session))
    store.close()

    def listed(*args: str) -> list:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LLLM_HOME": str(tmp_path / ".home")}
        out = subprocess.run(
            [sys.executable, "-m", "lllm.cli", "sessions", "list", "--store", str(tmp_path / "s.db"), "--json", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return [r["session_id"] for r in json.loads(out.stdout)]

    assert listed("--sort", "cost") == [ids[1], ids[2], ids[0]]
    assert listed("--text", "kyoto", "--sort", "oldest") == [ids[0], ids[2]]
    assert listed("--model", "TEST", "--limit", "1") == [ids[2]] and listed("--model", "gpt") == []
