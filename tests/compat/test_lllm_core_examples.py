"""lllm-core 0.1.x's own examples (vendored unmodified under lllm_core/examples/, Apache-2.0) run offline:
each script runs in a subprocess with every model routed to the deterministic test model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE / "lllm_core" / "examples"
EXPECTED = {  # script -> text its output must contain
    "basic_chat.py": "Test answer to: What is the capital of France?",
    "multi_turn_chat.py": "Original branch",
    "structured_output.py": "Verdict: test verdict",
    "tool_use.py": "Tool-call rounds: 1",
    "advanced/batch_processing.py": "finished",
    "advanced/multi_agent_tactic.py": "Agent calls: 2",
    "advanced/session_logging.py": "Agent calls: 1",
    "advanced/proxy_interpreter.py": "run_python: stats/summarize",
}


def test_every_vendored_example_is_run():
    scripts = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.py") if not p.name.startswith("_")}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_offline_on_the_test_model(script, tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LLLM_HOME": str(tmp_path / "lllm"),
        "LLLM_AUTO_INIT": "0",
        "OPENAI_API_KEY": "sk-offline-never-sent",
    }  # the examples pick a model by key
    out = subprocess.run(
        [sys.executable, str(HERE / "offline_runner.py"), str(EXAMPLES / script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert EXPECTED[script] in out.stdout
