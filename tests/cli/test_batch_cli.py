"""`lllm batch`: structured records for failed tasks, progress (done / failed / rate / ETA / cost) as
plain lines off a terminal and as a bar on one. Real console entry point, in subprocesses and a pty."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.pkgtree import write_tree

ROOT = Path(__file__).resolve().parents[2]

PACKAGE = {
    "lllm.toml": '[package]\nname = "demo"\n',
    "tactics/echo.py": """
        from lllm import Tactic

        class Echo(Tactic):
            name = "echo"
            agent_group = ["a"]

            def call(self, task: str) -> str:
                if "bad" in task:
                    raise ValueError(f"cannot take {task!r}")
                a = self.agents["a"]
                a.open("main")
                a.receive(task)
                return a.respond().content
    """,
    "configs/default.yaml": "global: {model_name: test}\nagent_configs: [{name: a, system_prompt: Echo.}]\n",
    "tasks.txt": "one\ntwo bad\nthree\nfour\n",
}


def env_for(cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(LLLM_HOME=str(cwd / ".home"), PYTHONPATH=str(ROOT), LLLM_STORE=str(cwd / "s.db"))
    return env


def test_failed_tasks_are_structured_and_progress_lines_are_plain_off_a_terminal(tmp_path):
    write_tree(tmp_path, PACKAGE)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lllm.cli",
            "batch",
            "demo.tactics:echo",
            "tasks.txt",
            "--progress-every",
            "0",
            "--batch-id",
            "b7",
        ],
        cwd=tmp_path,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    assert records[1] == {
        "index": 1,
        "error": {"type": "ValueError", "message": "cannot take 'two bad'", "reason": None},
    }
    assert "result" not in records[1] and records[0]["result"].startswith("Test answer")
    lines = [line for line in out.stderr.splitlines() if line.startswith("progress: ")]
    assert len(lines) == 5  # one per task with --progress-every 0, and the final one
    assert lines[-1].startswith("progress: 4/4 done, 1 failed, ") and "tasks/s, ETA 0s, $" in lines[-1]
    assert "\r" not in out.stderr and "3/4 succeeded (batch id b7" in out.stderr


def test_a_terminal_gets_a_bar(tmp_path):
    write_tree(tmp_path, PACKAGE)
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI with a terminal as stdin/stdout/stderr
        os.chdir(tmp_path)
        os.execve(
            sys.executable,
            [sys.executable, "-m", "lllm.cli", "batch", "demo.tactics:echo", "tasks.txt"],
            env_for(tmp_path),
        )
    chunks, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    assert os.WEXITSTATUS(status) == 1
    assert "4/4" in text and "failed 1" in text and "task/s" in text and "\r" in text
    assert "progress: " not in text


@pytest.mark.parametrize("every, expected", [(1000.0, 1), (0.0, 3)])
def test_progress_line_interval(every, expected):
    import io

    from lllm.logging.progress import BatchProgress

    now = [0.0]
    out = io.StringIO()
    p = BatchProgress(2, stream=out, tty=False, every_s=every, clock=lambda: now[0])
    now[0] = 1.0
    p.update(cost=0.5)
    now[0] = 2.0
    p.update(failed=True)
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == expected
    assert lines[-1] == "progress: 2/2 done, 1 failed, 1.00 tasks/s, ETA 0s, $0.500000"
