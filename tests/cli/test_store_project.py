"""A store inside a project, used from outside it: the CLI loads the store's project (README's `lllm ui --store
examples/travel_brief/.lllm/sessions.db` from the repository root), and says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LLLM_STORE", "LLLM_CONFIG", "LLLM_AUTO_INIT")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lllm.cli", *args], cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=120
    )


def test_replay_and_eval_from_outside_the_project_load_the_stores_project(tmp_path):
    project = tmp_path / "travel_brief"
    shutil.copytree(ROOT / "examples" / "travel_brief", project, ignore=shutil.ignore_patterns(".lllm", "__pycache__"))
    subprocess.run(
        [sys.executable, "run.py", "Oslo", "--month", "may"], cwd=project, env=_env(), check=True, capture_output=True
    )
    store = "travel_brief/.lllm/sessions.db"
    listed = _cli("sessions", "list", "--store", store, "--json", cwd=tmp_path)
    [row] = json.loads(listed.stdout)

    replay = _cli("replay", row["session_id"], "--store", store, cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    assert "Reproduced exactly." in replay.stdout
    assert f"lllm: loading the project at {project} (the store's project)" in replay.stderr

    report = tmp_path / "report.json"
    variant = "terse:agent_configs.writer.system_prompt=Write one line."
    ev = _cli("eval", "--from-sessions", "--store", store, "--variant", variant, "--json", str(report), cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(report.read_text())


def test_a_project_of_its_own_or_lllm_config_wins(tmp_path):
    from lllm.logging import sqlite_store

    project = tmp_path / "travel_brief"
    shutil.copytree(ROOT / "examples" / "travel_brief", project, ignore=shutil.ignore_patterns(".lllm", "__pycache__"))
    (project / ".lllm").mkdir()
    store = str(project / ".lllm" / "sessions.db")
    sqlite_store(store).close()
    here = tmp_path / "elsewhere"
    here.mkdir()
    (here / "lllm.toml").write_text('[package]\nname = "elsewhere"\nversion = "0.1.0"\n')
    out = _cli("sessions", "list", "--store", store, "--json", cwd=here)
    assert out.returncode == 0, out.stderr
    assert "loading the project" not in out.stderr  # the cwd's own project is the one loaded
    out = _cli("sessions", "list", "--store", store, "--json", cwd=tmp_path, LLLM_CONFIG=str(here / "lllm.toml"))
    assert out.returncode == 0, out.stderr
    assert "loading the project" not in out.stderr


def test_main_in_process_leaves_the_environment_as_it_was(tmp_path, monkeypatch, capsys):
    from lllm.cli import main
    from lllm.logging import sqlite_store

    project = tmp_path / "travel_brief"
    shutil.copytree(ROOT / "examples" / "travel_brief", project, ignore=shutil.ignore_patterns(".lllm", "__pycache__"))
    (project / ".lllm").mkdir()
    sqlite_store(project / ".lllm" / "sessions.db").close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLLM_CONFIG", raising=False)
    assert main(["sessions", "list", "--store", "travel_brief/.lllm/sessions.db", "--json"]) == 0
    assert "the store's project" in capsys.readouterr().err
    assert "LLLM_CONFIG" not in os.environ
