"""NaN / Infinity in a session's metadata: `lllm sessions export` and `show --json` print valid JSON (a strict
parser accepts them) with the rest of the session intact; non-finite numbers become null, as in the session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lllm.logging import sqlite_store
from lllm.logging.conformance import make_session

ROOT = Path(__file__).resolve().parents[2]
META = {"score": float("nan"), "bounds": [float("-inf"), 1.5, float("inf")], "note": "kept"}


def strict(text: str) -> object:
    """``json.loads`` refusing NaN, Infinity and -Infinity, as every non-Python JSON parser does."""

    def refuse(token: str) -> object:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def cli(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLLM_HOME": str(tmp_path / ".home")}
    out = subprocess.run(
        [sys.executable, "-m", "lllm.cli", "sessions", *args, "--store", str(tmp_path / "s.db")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _saved(tmp_path: Path) -> str:
    store = sqlite_store(tmp_path / "s.db")
    session = make_session()
    session.task = "measure the tides"
    session_id = store.save_session(session, tags={"run": "nan"}, metadata=META)
    store.close()
    return session_id


def test_export_and_show_json_are_valid_json_with_non_finite_metadata(tmp_path):
    session_id = _saved(tmp_path)
    exported = strict(cli(tmp_path, "export", session_id))
    assert exported["metadata"] == {"score": None, "bounds": [None, 1.5, None], "note": "kept"}
    assert exported["session"]["task"] == "measure the tides" and exported["tags"] == {"run": "nan"}
    assert strict(cli(tmp_path, "show", session_id, "--json"))["metadata"]["score"] is None
    assert sqlite_store(tmp_path / "s.db").load_session_record(session_id).metadata["note"] == "kept"


def test_a_record_stored_with_nan_by_an_older_lllm_still_exports_as_valid_json(tmp_path):
    session_id = _saved(tmp_path)
    store = sqlite_store(tmp_path / "s.db")
    key = f"default/sessions/{session_id}"
    record = json.loads(store.backend.get(key))
    record["metadata"] = META  # as earlier versions wrote it: a bare NaN token
    store.backend.put(key, json.dumps(record).encode())
    assert b"NaN" in store.backend.get(key)
    exported = strict(store.export_session(session_id))
    assert exported["metadata"]["score"] is None and exported["session"]["task"] == "measure the tides"


def test_export_to_a_file_is_utf8_whatever_the_locale(tmp_path):
    """JSON files are UTF-8 (RFC 8259): ``--output`` writes UTF-8 under a non-UTF-8 locale too (ASCII here,
    as on a C locale without coercion; cp1252 on Windows fails the same way on text outside it)."""
    store = sqlite_store(tmp_path / "s.db")
    session = make_session()
    session.task = "mesurer les marées 🌊"
    session_id = store.save_session(session)
    store.close()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LLLM_HOME": str(tmp_path / ".home"),
        "LC_ALL": "C",
        "PYTHONCOERCECLOCALE": "0",
        "PYTHONUTF8": "0",
    }
    out = subprocess.run(
        [sys.executable, "-m", "lllm.cli", "sessions", "export", session_id, "--store", str(tmp_path / "s.db")]
        + ["--output", str(tmp_path / "out.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    exported = strict((tmp_path / "out.json").read_bytes().decode("utf-8"))
    assert exported["session"]["task"] == "mesurer les marées 🌊"
