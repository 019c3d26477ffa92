"""A package whose ``tactics`` module defines a ``@tactic`` function: discovered like a class-based
tactic, run by ``lllm run pkg.tactics:name`` and replayed by ``lllm replay``, in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support.cassette_server import CassetteServer
from support.pkgtree import write_tree

from lllm import load_package
from lllm.core.functional import FunctionTactic

ROOT = Path(__file__).resolve().parents[2]

TACTIC = '''
    from pydantic import BaseModel
    from lllm import Agent, tactic, tool

    @tool
    def search(query: str) -> str:
        """Look a topic up in the notes.

        Args:
            query: What to look for.
        """
        return "no notes"

    class Plan(BaseModel):
        questions: list[str]

    class Brief(BaseModel):
        title: str
        summary: str

    llm = dict(model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1")  # nothing listens there: --model test
    planner = Agent("planner", "Split the topic into research questions.", output=Plan, **llm)
    researcher = Agent("researcher", "Answer using the search tool.", tools=[search], **llm)
    writer = Agent("writer", "Write a brief from the notes.", output=Brief, **llm)

    @tactic
    async def brief(topic: str) -> Brief:
        """Plan, research and write a brief on a topic."""
        plan = await planner.arun(topic)
        notes = [await researcher.arun(q) for q in plan.questions]
        return await writer.arun("\\n".join(notes))
'''


def lllm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    script = shutil.which("lllm", path=str(Path(sys.executable).parent))
    cmd = [script] if script else [sys.executable, "-m", "lllm.cli"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "LLLM_HOME": os.environ["LLLM_HOME"],
    }
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


def test_discovered_run_and_replayed_through_the_cli(tmp_path):
    proj = write_tree(
        tmp_path / "tidepool", {"lllm.toml": '[package]\nname = "tidepool"\n', "tactics/brief.py": TACTIC}
    )
    store = str(tmp_path / "runs.db")
    run = lllm("run", "tidepool.tactics:brief", "tide pools", "--model", "test", "--store", store, "--json", cwd=proj)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["result"] == {"title": "test title", "summary": "test summary"}
    assert doc["summary"]["state"] == "success" and doc["summary"]["agent_calls"] == 3
    assert doc["summary"]["tactic_path"] == "tidepool::brief"
    sid = doc["summary"]["session_id"]
    replay = lllm("replay", sid, "--store", store, "--json", cwd=proj)
    assert replay.returncode == 0, replay.stderr
    out = json.loads(replay.stdout)
    assert out["same_delivery"] is True and out["replayed_calls"] == 4 and out["diverged_at"] is None
    listed = lllm("list", "tactics", cwd=proj)
    assert "tidepool.tactics:brief" in listed.stdout


def test_discovered_in_process(tmp_path):
    proj = write_tree(
        tmp_path / "tidepool", {"lllm.toml": '[package]\nname = "tidepool"\n', "tactics/brief.py": TACTIC}
    )
    from lllm.packages.runtime import get_default_runtime

    load_package(proj)
    rt = get_default_runtime()
    cls = rt.get_node("tidepool.tactics:brief", "tactic").value
    assert issubclass(cls, FunctionTactic) and cls.__doc__ == "Plan, research and write a brief on a topic."
    from lllm import build_tactic
    from lllm.core.tactic import use_model

    t = build_tactic({}, name="tidepool.tactics:brief", runtime=rt)
    assert t.tactic_path == "tidepool::brief"
    with use_model("test"):
        assert t("kelp").title == "test title"


def test_agents_base_url_counts_as_reachable_for_lllm_run(tmp_path):
    """No provider key and no --model: the @tactic's agents name a base URL, so the run (and a fork's new
    calls) go there (a local server needs no key) instead of silently switching to the offline test model."""
    from shortpath_flow import BRIEF, SCRIPT, interactions, text

    short = {"title": "Tide pools", "summary": "Sea water kept in rock."}
    store = str(tmp_path / "runs.db")
    with CassetteServer(interactions([*SCRIPT, text(json.dumps(short))])) as server:
        code = TACTIC.replace("http://127.0.0.1:9/v1", server.url + "/v1")
        proj = write_tree(
            tmp_path / "tidepool", {"lllm.toml": '[package]\nname = "tidepool"\n', "tactics/brief.py": code}
        )
        run = lllm("run", "tidepool.tactics:brief", "tide pools", "--store", store, "--json", cwd=proj)
        assert run.returncode == 0, run.stderr
        assert "offline" not in run.stderr and json.loads(run.stdout)["result"] == BRIEF
        sid = json.loads(run.stdout)["summary"]["session_id"]
        fork = lllm(
            "replay",
            sid,
            "--store",
            store,
            "--json",
            "--override",
            "agent_configs.writer.system_prompt=Write one line.",
            cwd=proj,
        )
        assert fork.returncode == 0, fork.stderr
        server.assert_all_served()
    assert "offline test model" not in fork.stderr
    out = json.loads(fork.stdout)
    assert out["delivery"] == short and out["replayed_calls"] == 5 and out["diverged_at"]["agent"] == "writer"
