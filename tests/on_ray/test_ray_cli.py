"""`lllm batch --backend ray`: a package's tactic runs on a local Ray instance the command starts and stops;
records, failures and the resumable batch id work as in a local batch (real console entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.pkgtree import write_tree

pytest.importorskip("ray", reason="Ray is not installed: pip install 'lllm[ray]' to run tests/on_ray")

ROOT = Path(__file__).resolve().parents[2]

PACKAGE = {
    "lllm.toml": '[package]\nname = "raydemo"\n',
    "tactics/echo.py": """
        from lllm import Tactic

        def shout(text):
            return text.upper()

        class Echo(Tactic):
            name = "echo"
            agent_group = ["a"]

            def call(self, task: str) -> str:
                if "bad" in task:
                    raise ValueError(f"cannot take {task!r}")
                a = self.agents["a"]
                a.open("main")
                a.receive(task)
                return shout(a.respond().content)
    """,
    "configs/default.yaml": "global: {model_name: gpt-4o}\nagent_configs: [{name: a, system_prompt: Echo.}]\n",
    "tasks.txt": "one\ntwo bad\nthree\n",
}


def run_batch(cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "RAY_ADDRESS"}
    env.update(LLLM_HOME=str(cwd / ".home"), PYTHONPATH=str(ROOT), LLLM_STORE=str(cwd / "s.db"))
    cmd = [sys.executable, "-m", "lllm.cli", "batch", "raydemo.tactics:echo", "tasks.txt", "--model", "test"]
    cmd += ["--backend", "ray", "--batch-id", "rb1", "--progress-every", "0"]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_lllm_batch_backend_ray_runs_a_package_tactic_and_resumes(tmp_path):
    write_tree(tmp_path, PACKAGE)
    out = run_batch(tmp_path)
    assert out.returncode == 1, out.stderr[-2000:]
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2]
    assert records[1]["error"]["type"] == "ValueError" and "two bad" in records[1]["error"]["message"]
    assert records[0]["result"].startswith("TEST ANSWER")  # the package's helper ran on the worker, by value
    assert "2/3 succeeded (batch id rb1" in out.stderr
    again = run_batch(tmp_path)  # only the failed task runs again
    assert [json.loads(line) for line in again.stdout.splitlines()] == records
