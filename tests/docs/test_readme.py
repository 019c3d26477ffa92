"""The README names its two commands, and its first command's example works (its Python blocks run in
test_examples.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_names_both_commands():
    text = (ROOT / "README.md").read_text()
    assert "examples/travel_brief/run.py" in text and "-m pytest -q" in text
    assert "-m pytest -q" in (ROOT / ".ci" / "run").read_text()


def test_example_runs_offline_in_a_subprocess(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LLLM_STORE": str(tmp_path / "sessions.db")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples/travel_brief/run.py"), "Oslo", "--month", "march"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "running offline on LLLM's deterministic test model" in out.stdout
    brief = json.loads(out.stdout[out.stdout.index("{") : out.stdout.rindex("}") + 1])
    assert brief["city"] == "Oslo" and brief["rain_risk"] in ("low", "medium", "high")
    assert "2 agent calls" in out.stdout and "recorded" in out.stdout and (tmp_path / "sessions.db").exists()
