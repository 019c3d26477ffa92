"""`lllm batch`, `lllm sessions …` and `lllm replay` through the real CLI, in subprocesses."""

from __future__ import annotations

import json

import pytest
from support.duo_project import run_cli as lllm, write_duo_project


@pytest.fixture
def project(tmp_path):
    write_duo_project(tmp_path)
    (tmp_path / "tasks.txt").write_text("first task\nsecond task\n\nthird task\n")  # a blank line is skipped
    return tmp_path


def test_batch_sessions_and_replay_round_trip(project):
    out = lllm(project, "batch", "demo.tactics:duo", "tasks.txt", "--batch-id", "b1", "--workers", "2")
    assert "running offline on LLLM's deterministic test model" in out.stderr and "3/3 succeeded" in out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["index"] for r in results] == [0, 1, 2] and "first task" in results[0]["result"]

    listed = json.loads(lllm(project, "sessions", "list", "--json").stdout)
    assert len(listed) == 3 and {s["state"] for s in listed} == {"success"}
    assert all(s["tactic_path"] == "demo::duo" for s in listed)
    table = lllm(project, "sessions", "list", "--tactic", "demo::duo").stdout
    assert table.splitlines()[0].split() == ["SESSION", "TACTIC", "STATE", "COST", "CALLS", "TIME", "(UTC)", "TAGS"]
    sid = listed[-1]["session_id"]

    shown = lllm(project, "sessions", "show", sid).stdout
    assert "agent drafter #1: success" in shown and "dialog editor/main" in shown
    exported = json.loads(lllm(project, "sessions", "export", sid).stdout)
    assert exported["session"]["tactic_path"] == "demo::duo"
    assert "3 session(s)" in lllm(project, "sessions", "cost").stdout

    replay = lllm(project, "replay", sid).stdout
    assert "Reproduced exactly." in replay and "3 call(s) answered from the recording" in replay

    fork = lllm(project, "replay", sid, "--override", "agent_configs.editor.system_prompt=You edit tersely.").stdout
    assert "Diverged at agent 'editor', call #1" in fork and '+   "content": "You edit tersely."' in fork
    assert len(json.loads(lllm(project, "sessions", "list", "--json").stdout)) == 5  # both re-runs were saved

    lllm(project, "sessions", "delete", sid)
    gone = lllm(project, "sessions", "show", sid, code=1)
    assert gone.stderr.startswith("Error: ")


def test_errors_are_one_line_with_exit_codes(project):
    missing = lllm(project, "sessions", "list", "--store", str(project / "none.db"), code=1)
    assert "No session store at" in missing.stderr
    lllm(project, "sessions", "list", "--limit", "x", code=2)
    lllm(project, "batch", "demo.tactics:duo", "tasks.txt")
    sid = json.loads(lllm(project, "sessions", "list", "--json").stdout)[0]["session_id"]
    wrong = lllm(project, "replay", sid, "--override", "agent_configs.nobody.x=1", code=1)
    assert "no agent 'nobody'" in wrong.stderr


def test_run_saves_its_session_for_sessions_and_replay(project):
    out = lllm(project, "run", "demo.tactics:duo", "hello there", "--tag", "env=ci")
    assert "; session " in out.stderr
    rows = json.loads(lllm(project, "sessions", "list", "--tag", "env=ci", "--json").stdout)
    assert len(rows) == 1 and rows[0]["tags"]["env"] == "ci"
    assert "Reproduced exactly." in lllm(project, "replay", rows[0]["session_id"]).stdout
    lllm(project, "run", "demo.tactics:duo", "not saved", "--no-save")
    assert len(json.loads(lllm(project, "sessions", "list", "--json").stdout)) == 2  # the run + its replay


def test_sessions_filters_take_every_tactic_form_and_a_batch_id(project):
    lllm(project, "batch", "demo.tactics:duo", "tasks.txt", "--batch-id", "nightly")
    lllm(project, "run", "demo.tactics:duo", "outside the batch")
    count = lambda *a: len(json.loads(lllm(project, "sessions", "list", "--json", *a).stdout))  # noqa: E731
    assert count() == 4
    for form in ("demo::duo", "demo.tactics:duo", "demo:duo", "duo"):
        assert count("--tactic", form) == 4, form
    assert count("--tactic", "other") == 0 and count("--tactic", "demo::other") == 0
    assert count("--batch", "nightly") == 3 and count("--batch", "nightly", "--tactic", "duo", "--limit", "2") == 2
    assert count("--batch", "weekly") == 0
    assert "3 session(s)" in lllm(project, "sessions", "cost", "--batch", "nightly").stdout
    assert "4 session(s)" in lllm(project, "sessions", "cost", "--tactic", "duo").stdout


def test_show_clips_unless_full_and_lists_latency_and_aliases(project):
    long_task = "tide " * 200
    lllm(project, "run", "demo.tactics:duo", long_task)
    sid = json.loads(lllm(project, "sessions", "list", "--json").stdout)[0]["session_id"]
    short = lllm(project, "sessions", "show", sid).stdout
    assert "more chars; --full]" in short and long_task.strip() not in short
    assert " ms" in short.split("agent drafter #1:")[1].splitlines()[0]  # per-invocation latency
    assert "dialog drafter/main" in short
    full = lllm(project, "sessions", "show", sid, "--full").stdout
    assert long_task.strip() in full and "more chars" not in full


def test_show_includes_sub_tactic_sessions(tmp_path, capsys):
    from lllm import Tactic
    from lllm.cli import main
    from lllm.logging import sqlite_store
    from lllm.testing import MockInvoker

    class Inner(Tactic, register=False):
        name = "inner"
        agent_group = ["helper"]

        def call(self, task: str) -> str:
            h = self.agents["helper"]
            h.open("ask")
            h.receive(task)
            return h.respond().content

    class Outer(Tactic, register=False):
        name = "outer"

        def call(self, task: str) -> str:
            return self.inner(task + " (inner)")

    config = {"global": {"model_name": "m"}, "agent_configs": [{"name": "helper", "system_prompt": "Help."}]}
    store = sqlite_store(str(tmp_path / "s.db"))
    outer = Outer({}, log_store=store)
    outer.inner = Inner(config, invoker=MockInvoker(["inner answer"]))
    session = outer("go", return_session=True)
    assert main(["sessions", "show", session.session_id, "--store", str(tmp_path / "s.db")]) == 0
    out = capsys.readouterr().out
    assert "sub-tactic inner #1: inner, success" in out
    assert "    agent helper #1: success" in out and "dialog helper/ask" in out and "inner answer" in out
