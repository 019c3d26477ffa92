"""`lllm eval`/`lllm optimize` review (session 7b): credentials in the optimize result, unparseable verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.duo_project import ROOT, write_duo_project

LEAKY = """
import os

from lllm import Tactic

class Leaky(Tactic):
    name = "leaky"
    agent_group = ["drafter", "editor"]

    def call(self, task: str) -> str:
        e = self.agents["editor"]
        e.open("main")
        e.receive(task)
        e.respond()
        prompt = next(a for a in self.config["agent_configs"] if a["name"] == "editor")["system_prompt"]
        said = "same" if prompt == "You edit." else "changed"
        return f"{said} via " + os.environ["WEATHER_SERVICE_TOKEN"]
"""
METRICS = """
def changed(task, result):
    return "changed" in str(result)
"""
SECRET = "wst-0123456789abcdefSECRET"


def test_optimize_json_hides_a_credential_echoed_in_a_held_out_result(tmp_path):
    write_duo_project(tmp_path)
    (tmp_path / "tactics" / "leaky.py").write_text(LEAKY)
    (tmp_path / "my_metrics.py").write_text(METRICS)
    (tmp_path / "cases.jsonl").write_text('{"task": "alpha"}\n{"task": "beta"}\n{"task": "gamma"}\n')
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(LLLM_HOME=str(tmp_path / ".home"), PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}", WEATHER_SERVICE_TOKEN=SECRET)
    args = ["optimize", "demo.tactics:leaky", "--dataset", "cases.jsonl", "--target"]
    args += ["agent_configs.editor.system_prompt", "--metric", "my_metrics:changed", "--rounds", "1", "--json", "o.json"]
    proc = subprocess.run(
        [sys.executable, "-m", "lllm.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (tmp_path / "o.json").read_text()
    result = json.loads(text)
    assert result["heldout"]["items"] and SECRET not in text
    assert all("via [REDACTED]" in o["result"] for it in result["heldout"]["items"] for o in it["outcomes"].values())
    assert result["original"] == "You edit." and result["best"] is not None
