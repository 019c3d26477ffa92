"""A small package (``demo``: a drafter/editor tactic with one tool) and the real ``lllm`` CLI run on it in a
subprocess, shared by the CLI and eval tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TOOLS = '''
from lllm import tool

@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()
'''

TACTIC = """
from lllm import Tactic

class Duo(Tactic):
    name = "duo"
    agent_group = ["drafter", "editor"]

    def call(self, task: str) -> str:
        d, e = self.agents["drafter"], self.agents["editor"]
        d.open("main")
        d.receive(task)
        draft = d.respond()
        e.open("main")
        e.receive(draft.content)
        return e.respond().content
"""

CONFIG = """
global:
  model_name: gpt-4o-mini
agent_configs:
  - name: drafter
    system_prompt: You draft.
    tools: [demo.tools:shout]
  - name: editor
    system_prompt: You edit.
"""


def write_duo_project(root: Path) -> Path:
    """Write the ``demo`` package (lllm.toml, tactics/duo.py, tools/shout.py, configs/default.yaml) and a
    three-line tasks.txt under ``root``; returns ``root``."""
    (root / "lllm.toml").write_text('[package]\nname = "demo"\n')
    for rel, text in {"tactics/duo.py": TACTIC, "tools/shout.py": TOOLS, "configs/default.yaml": CONFIG}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "tasks.txt").write_text("first task\nsecond task\nthird task\n")
    return root


def run_cli(cwd: Path, *args: str, code: int = 0) -> "subprocess.CompletedProcess[str]":
    """``python -m lllm.cli ARGS`` in ``cwd`` with no provider key and ``LLLM_HOME`` under ``cwd``; asserts the
    exit code is ``code``."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(LLLM_HOME=str(cwd / ".home"), PYTHONPATH=f"{ROOT}{os.pathsep}{cwd}")
    proc = subprocess.run(
        [sys.executable, "-m", "lllm.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc
