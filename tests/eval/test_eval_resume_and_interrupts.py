"""`lllm eval`/`lllm optimize` review (session 7b): credentials in the optimize result, unparseable verdicts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
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
    env.update(
        LLLM_HOME=str(tmp_path / ".home"), PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}", WEATHER_SERVICE_TOKEN=SECRET
    )
    args = ["optimize", "demo.tactics:leaky", "--dataset", "cases.jsonl", "--target"]
    args += [
        "agent_configs.editor.system_prompt",
        "--metric",
        "my_metrics:changed",
        "--rounds",
        "1",
        "--json",
        "o.json",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "lllm.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (tmp_path / "o.json").read_text()
    result = json.loads(text)
    assert result["heldout"]["items"] and SECRET not in text
    assert all("via [REDACTED]" in o["result"] for it in result["heldout"]["items"] for o in it["outcomes"].values())
    assert result["original"] == "You edit." and result["best"] is not None


def _chat(content: str) -> dict:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
    }
    return {
        "request": {"method": "POST", "uri": "http://x/v1/chat/completions"},
        "response": {"status": {"code": 200}, "parsed_body": body},
    }


def _verdict(better: str) -> dict:
    return _chat(json.dumps({"reasons": "Digits are asked for.", "better": better}))


def test_an_unparseable_judge_verdict_scores_the_item_as_missing_not_the_whole_evaluation():
    from support.cassette_server import CassetteServer
    from test_eval_dataset import CASES, CONFIG, DIGITS, Calc, factory

    from lllm.eval import BASELINE, evaluate_dataset, pairwise_judge
    from lllm.eval.judge import PAIRWISE_SYSTEM

    # item 1: B both times; item 2: a judge that never answers with a verdict (every retry); item 3: B both times
    script = (
        [_verdict("2"), _verdict("1")] + [_chat("Answer 2 looks better to me.")] * 4 + [_verdict("2"), _verdict("1")]
    )
    with CassetteServer(script, name="judge") as server:
        judge_config = {
            "global": {
                "model_name": "gpt-4o-mini",
                "model_args": {"base_url": server.url + "/v1", "api_key": "sk-local-test"},
            },
            "agent_configs": [{"name": "judge", "system_prompt": PAIRWISE_SYSTEM}],
        }
        judge = pairwise_judge("digits, not words", config=judge_config)
        with pytest.warns(RuntimeWarning, match=r"judge 'judge' gave no verdict .*scored n/a"):
            report = evaluate_dataset(
                Calc, CASES, DIGITS, ["exact_match", judge], config=CONFIG, invoker=factory, workers=1
            )
        server.assert_all_served()
    assert [it.outcomes["digits"].result for it in report.items] == ["4", "6", "2"]  # the runs are kept
    assert report.summary["digits"].vs_baseline["exact_match"].wins == 3
    assert [it.pairwise["digits"]["judge"] for it in report.items] == [1.0, None, 1.0]
    assert report.summary["digits"].metrics["judge"].n == 2 and report.summary[BASELINE].items == 3


def _says_its_system_prompt(variant: Any) -> Any:
    from lllm.testing import MockInvoker

    return MockInvoker([lambda dialog: "said: " + dialog.messages[0].content] * 10)


def test_resuming_an_evaluation_with_a_changed_variant_is_refused_not_answered_with_the_old_runs(tmp_path):
    from evalkit import Brief, record_all
    from test_eval_dataset import CASES, CONFIG, Calc

    from lllm.eval import VariantError, evaluate_dataset, evaluate_sessions, parse_variants, select_sessions
    from lllm.logging import sqlite_store

    store = sqlite_store(str(tmp_path / "s.db"))
    try:
        record_all(store)
        terse = parse_variants(["b:agent_configs.writer.system_prompt=Be terse."])
        verbose = parse_variants(["b:agent_configs.writer.system_prompt=Be verbose."])
        run = dict(store=store, tactic=Brief, invoker=_says_its_system_prompt, eval_id="e1")
        first = evaluate_sessions(select_sessions(store), terse, ["success"], **run)
        assert {it.outcomes["b"].result for it in first.items} == {"said: Be terse."}
        again = evaluate_sessions(select_sessions(store), terse, ["success"], **run)  # resumed: the runs reused
        reused = [it.outcomes["b"].session_id for it in again.items]
        assert reused == [it.outcomes["b"].session_id for it in first.items]
        with pytest.raises(VariantError, match="evaluation 'e1' ran 'b' with other changes"):
            evaluate_sessions(select_sessions(store), verbose, ["success"], **run)

        words = parse_variants(["w:agent_configs.a.system_prompt=Answer in French."])
        digits = parse_variants(["w:agent_configs.a.system_prompt=Answer with digits."])
        data = dict(config=CONFIG, invoker=_says_its_system_prompt, log_store=store, eval_id="d1", workers=1)
        done = evaluate_dataset(Calc, CASES, words, ["success"], **data)
        assert {it.outcomes["w"].result for it in done.items} == {"said: Answer in French."}
        with pytest.raises(VariantError, match="evaluation 'd1' ran 'w' with other changes"):
            evaluate_dataset(Calc, CASES, digits, ["success"], **data)
    finally:
        store.close()


SLOW = """
import time
from pathlib import Path

from lllm import Tactic

class Slow(Tactic):
    name = "slow"
    agent_group = ["editor"]

    def call(self, task: str) -> str:
        if Path("slow.flag").exists():  # the re-run is stuck (a hung socket, a lock)
            Path("rerun.started").write_text("yes")
            time.sleep(600)
        e = self.agents["editor"]
        e.open("main")
        e.receive(task)
        return e.respond().content
"""


def test_ctrl_c_stops_lllm_eval_while_a_rerun_is_stuck(tmp_path):
    write_duo_project(tmp_path)
    (tmp_path / "tactics" / "slow.py").write_text(SLOW)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(LLLM_HOME=str(tmp_path / ".home"), PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "lllm.cli"]
    batch = subprocess.run(
        [*cli, "batch", "demo.tactics:slow", "tasks.txt", "--batch-id", "s1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert batch.returncode == 0, batch.stderr
    (tmp_path / "slow.flag").write_text("on")
    args = ["eval", "--from-sessions", "--batch", "s1", "--variant", "b:agent_configs.editor.system_prompt=Terse."]
    proc = subprocess.Popen(
        [*cli, *args, "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "rerun.started").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("lllm eval did not stop on Ctrl-C while a re-run was stuck") from None
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 130 and "interrupted" in err, err
