"""`lllm eval` through the real CLI, in subprocesses: traces and data sets, reports, the CI gate's exit code."""

from __future__ import annotations

import json

import pytest
from support.duo_project import CONFIG, run_cli as lllm, write_duo_project

ASKER = """
from lllm import Tactic, load_prompt

class Asker(Tactic):
    name = "asker"
    agent_group = ["drafter"]

    def call(self, task: str) -> str:
        print("asker is chatty on stdout")
        d = self.agents["drafter"]
        d.open("main")
        d.receive_prompt(load_prompt("demo.prompts:ask", runtime=self.runtime), {"task": task})
        return d.respond().content
"""

METRICS = '''
def mentions_task(task, result):
    """1 when the result quotes the task."""
    return str(task) in str(result)
'''


@pytest.fixture
def project(tmp_path):
    write_duo_project(tmp_path)
    (tmp_path / "tactics" / "asker.py").write_text(ASKER)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "ask.md").write_text("Draft this: {task}")
    (tmp_path / "configs" / "strict.yaml").write_text(CONFIG.replace("You edit.", "You edit strictly."))
    (tmp_path / "my_metrics.py").write_text(METRICS)
    (tmp_path / "cases.jsonl").write_text('{"task": "alpha", "expected": "x"}\n"beta"\n')
    return tmp_path


def test_from_sessions_reports_and_the_regression_gate(project):
    lllm(project, "batch", "demo.tactics:duo", "tasks.txt", "--batch-id", "b1")
    args = [
        "eval",
        "--from-sessions",
        "--batch",
        "b1",
        "--variant",
        "terse:agent_configs.editor.system_prompt=Be terse.",
    ]
    args += ["--metric", "success", "--metric", "my_metrics:mentions_task", "--metric", "tool_calls"]
    out = lllm(
        project, *args, "--json", "r.json", "--html", "r.html", "--eval-id", "e1", "--workers", "2", "--items", "all"
    )
    assert out.stdout.count("== ") == 3 and "  terse: success=1, mentions_task=" in out.stdout
    assert "offline test model" in out.stderr
    assert "terse     mentions_task" in out.stdout and "3 item(s), 0 error(s)" in out.stdout
    report = json.loads((project / "r.json").read_text())
    assert len(report["items"]) == 3 and report["summary"]["terse"]["metrics"]["success"]["mean"] == 1.0
    for item in report["items"]:
        b = item["outcomes"]["terse"]
        assert b["diverged_at"] == {"agent": "editor", "call_index": 0} and b["replayed_calls"] == 2
    assert "<details>" in (project / "r.html").read_text()
    replays = json.loads(lllm(project, "sessions", "list", "--tag", "lllm.eval_id=e1", "--json").stdout)
    assert len(replays) == 3

    # the gate: a previous report where B mentioned the task more often
    report["summary"]["terse"]["metrics"]["mentions_task"]["mean"] = 2.0
    (project / "old.json").write_text(json.dumps(report))
    gate = ["--baseline", "old.json", "--fail-under", "mentions_task=0.5", "--eval-id", "e1"]
    failed = lllm(project, *args, *gate, code=1)
    assert "Regression: terse: mentions_task" in failed.stderr and "more than the allowed 0.5" in failed.stderr
    lllm(project, *args, "--baseline", "r.json", "--fail-under", "mentions_task=0", "--eval-id", "e1")


def test_dataset_mode_and_usage_errors(project):
    out = lllm(
        project,
        "eval",
        "demo.tactics:duo",
        "--dataset",
        "cases.jsonl",
        "--variant",
        "b:agent_configs.editor.system_prompt=Edit hard.",
        "--variant",
        "s:config=strict",
        "--json",
        "d.json",
    )
    report = json.loads((project / "d.json").read_text())
    assert [m["name"] for m in report["metrics"]] == ["success", "cost", "latency", "exact_match"]
    assert report["items"][0]["expected"] == "x" and "b         exact_match" in out.stdout
    assert [v["name"] for v in report["variants"]] == ["b", "s"] and report["summary"]["s"]["errors"] == 0
    strict = json.loads(lllm(project, "sessions", "list", "--tag", "lllm.eval_variant=s", "--json").stdout)
    shown = lllm(project, "sessions", "show", strict[0]["session_id"], "--json").stdout
    assert "You edit strictly." in shown
    bad = lllm(project, "eval", "--from-sessions", "--variant", "b", code=1)
    assert "expected NAME:KEY=VALUE" in bad.stderr
    bad = lllm(project, "eval", "demo.tactics:duo", "--dataset", "nope.jsonl", "--variant", "b:model=x", code=1)
    assert "data set 'nope.jsonl' does not exist" in bad.stderr
    bad = lllm(project, "eval", "--variant", "b:model=x", code=1)
    assert "needs one source" in bad.stderr
    bad = lllm(
        project,
        "eval",
        "demo.tactics:duo",
        "--dataset",
        "cases.jsonl",
        "--variant",
        "b:model=x",
        "--address",
        "auto",
        code=1,
    )
    assert "--address names a Ray cluster: add --backend ray" in bad.stderr
    bad = lllm(project, "eval", "--from-sessions", "--variant", "b:model=x", "--backend", "ray", code=1)
    assert "--backend ray applies to --dataset" in bad.stderr
    bad = lllm(project, "eval", "--from-sessions", "--variant", "b:model=x", "--metric", "nope", code=1)
    assert "unknown metric 'nope'" in bad.stderr


def test_optimize_runs_offline_end_to_end(project):
    out = lllm(
        project,
        "optimize",
        "demo.tactics:duo",
        "--dataset",
        "cases.jsonl",
        "--target",
        "agent_configs.editor.system_prompt",
        "--metric",
        "success",
        "--rounds",
        "1",
        "--json",
        "o.json",
    )
    result = json.loads((project / "o.json").read_text())
    assert result["original"] == "You edit." and len(result["train_cases"]) == 1 and len(result["heldout_cases"]) == 1
    assert result["original_train_mean"] == 1.0 and result["best"] is None  # nothing beats a perfect score
    assert "keep it" in out.stdout and result["calls"] >= 3
    bad = lllm(
        project,
        "optimize",
        "demo.tactics:duo",
        "--dataset",
        "cases.jsonl",
        "--target",
        "global",
        "--metric",
        "success",
        code=1,
    )
    assert "not a prompt text" in bad.stderr


def test_progress_goes_to_stderr_and_json_minus_keeps_stdout_a_report(project):
    lllm(project, "batch", "demo.tactics:asker", "tasks.txt", "--batch-id", "b3")
    variant = ["--variant", "b:prompts.demo.prompts:ask=Draft, briefly: {task}", "--progress-every", "0"]
    out = lllm(project, "eval", "--from-sessions", "--batch", "b3", *variant, "--json", "-", "--eval-id", "e3")
    report = json.loads(out.stdout)  # the whole of stdout is the report
    assert report["eval_id"] == "e3" and len(report["items"]) == 3 and report["summary"]["b"]["errors"] == 0
    assert "progress: 3/3 done, 0 failed" in out.stderr and "progress: 1/3 done" in out.stderr
    assert "3 item(s), 0 error(s)" in out.stderr and "asker is chatty on stdout" in out.stderr  # table, print
    # without --json -, stdout is the table alone
    out = lllm(project, "eval", "--from-sessions", "--batch", "b3", *variant, "--eval-id", "e3")
    assert "progress:" not in out.stdout and "chatty" not in out.stdout and "3 item(s), 0 error(s)" in out.stdout
    # a data set: progress per side and task, and the tactic's prints, on stderr
    data = ["eval", "demo.tactics:asker", "--dataset", "cases.jsonl", "--variant", "b:model=test", "--no-save"]
    out = lllm(project, *data, "--progress-every", "0", "--json", "-")
    assert len(json.loads(out.stdout)["items"]) == 2
    assert "progress: 4/4 done" in out.stderr and out.stderr.count("asker is chatty on stdout") == 4


def test_optimize_a_package_prompt_on_recorded_sessions(project):
    lllm(project, "batch", "demo.tactics:asker", "tasks.txt", "--batch-id", "b2")
    args = ["optimize", "--from-sessions", "--batch", "b2", "--prompt", "demo.prompts:ask", "--metric", "success"]
    out = lllm(project, *args, "--rounds", "1", "--json", "o.json")
    result = json.loads((project / "o.json").read_text())
    assert result["mode"] == "sessions" and result["target"] == "prompts.demo.prompts:ask"
    assert result["original"] == "Draft this: {task}" and result["placeholders"] == ["task"]
    assert len(result["train_cases"]) == 2 and len(result["heldout_cases"]) == 1
    # the offline test model proposes a text without the placeholder: rejected, never run
    [cand] = result["candidates"]
    assert cand["rejected"] == "drops placeholder(s) ['task']" and cand["train_mean"] is None
    assert result["best"] is None and result["calls"] == 1 and "rejected (drops placeholder(s)" in out.stdout
    assert len(json.loads(lllm(project, "sessions", "list", "--json").stdout)) == 3  # nothing was re-run
    bad = lllm(
        project,
        "optimize",
        "demo.tactics:asker",
        "--dataset",
        "cases.jsonl",
        "--prompt",
        "ask",
        "--metric",
        "success",
        code=1,
    )
    assert "optimises a package prompt on recorded sessions" in bad.stderr
    bad = lllm(project, "optimize", "--from-sessions", "--metric", "success", code=1)
    assert "--target DOTTED.CONFIG.PATH, or --prompt KEY" in bad.stderr
    bad = lllm(project, *args, "--backend", "ray", code=1)
    assert "--backend ray applies to --dataset" in bad.stderr
