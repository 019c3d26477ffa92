"""lllm.eval on a data set: each side one bcall, exact match, failing sides, resume by eval id."""

from __future__ import annotations

import json
from typing import Any, List

import pytest

from lllm import Tactic
from lllm.eval import BASELINE, VariantError, evaluate_dataset, parse_variants
from lllm.logging import sqlite_store
from lllm.testing import MockInvoker

CASES = [{"task": "2+2", "expected": "4"}, {"task": "3+3", "expected": "6"}, {"task": "1+1", "expected": "2"}]
CONFIG = {"global": {"model_name": "mock-model"}, "agent_configs": [{"name": "a", "system_prompt": "Answer in words."}]}
DIGITS = parse_variants(["digits:agent_configs.a.system_prompt=Answer with digits."])


class Calc(Tactic, register=False):
    name = "calc"
    agent_group = ["a"]

    def call(self, task: str) -> str:
        a = self.agents["a"]
        a.open("main")
        a.receive(task)
        return a.respond().content


CALLS: List[str] = []


def model(dialog: Any) -> str:
    """A deterministic stand-in model: digits when the system prompt asks for them, words otherwise."""
    system, task = dialog.messages[0].content, dialog.messages[-1].content
    CALLS.append(task)
    value = sum(int(x) for x in task.split("+"))
    return str(value) if "digits" in system else {4: "four", 6: "six", 2: "two"}[value]


def factory(variant: Any) -> MockInvoker:
    if variant.name == "broken":
        return MockInvoker([ValueError("the model is down")] * 10)
    return MockInvoker([model] * 10)


def test_a_variant_is_scored_against_the_default_config_on_every_case():
    report = evaluate_dataset(Calc, CASES, DIGITS, config=CONFIG, invoker=factory, workers=1)
    assert [m.name for m in report.metrics] == ["success", "cost", "latency", "exact_match"]
    assert [it.outcomes[BASELINE].result for it in report.items] == ["four", "six", "two"]
    assert [it.outcomes["digits"].result for it in report.items] == ["4", "6", "2"]
    cmp = report.summary["digits"].vs_baseline["exact_match"]
    assert (cmp.wins, cmp.ties, cmp.losses) == (3, 0, 0) and report.summary[BASELINE].metrics["exact_match"].mean == 0


def test_a_failing_side_is_an_outcome_not_a_crash():
    broken = parse_variants(["broken:agent_configs.a.system_prompt=Answer."])
    report = evaluate_dataset(Calc, CASES, broken, ["success"], config=CONFIG, invoker=factory, workers=2)
    assert report.summary["broken"].errors == 3 and report.summary[BASELINE].errors == 0
    assert "the model is down" in report.items[0].outcomes["broken"].error
    cmp = report.summary["broken"].vs_baseline["success"]
    assert (cmp.wins, cmp.losses) == (0, 3)


def test_the_same_eval_id_resumes_from_the_store(tmp_path):
    store = sqlite_store(str(tmp_path / "s.db"))
    CALLS.clear()
    first = evaluate_dataset(Calc, CASES, DIGITS, config=CONFIG, invoker=factory, log_store=store, eval_id="run1")
    assert len(CALLS) == 6
    again = evaluate_dataset(Calc, CASES, DIGITS, config=CONFIG, invoker=factory, log_store=store, eval_id="run1")
    assert len(CALLS) == 6  # every task of both sides was already recorded under batch run1:<side>
    assert [it.outcomes["digits"].session_id for it in again.items] == [
        it.outcomes["digits"].session_id for it in first.items
    ]
    rows = store.list_sessions(tags={"lllm.eval_id": "run1", "lllm.eval_variant": "digits"}, limit=None)
    assert len(rows) == 3


def test_dataset_mode_refuses_what_only_traces_have():
    with pytest.raises(VariantError, match=r"prompts\.\* overrides apply to recorded sessions"):
        evaluate_dataset(Calc, CASES, parse_variants(["p:prompts.x=y"]), config=CONFIG)
    with pytest.raises(VariantError, match="config=fast needs the tactic by its registered name"):
        evaluate_dataset(Calc, CASES, parse_variants(["p:config=fast"]), config=CONFIG, invoker=factory)


def test_a_rubric_judge_and_a_pairwise_metric_score_a_data_set():
    from lllm.eval import pairwise_metric, rubric_judge
    from lllm.eval.metrics import REGISTRY

    grades = MockInvoker([json.dumps({"reasons": "scripted", "score": s}) for s in [1, 1, 1, 5, 5, 5]])
    rubric = rubric_judge("digits, not words", invoker=grades)

    @pairwise_metric
    def shorter(a: str, b: str, a_session: Any, b_session: Any) -> float:
        assert a_session.delivery == a and b_session.delivery == b  # both sides' sessions reach the metric
        return float(len(b) < len(a)) - float(len(b) > len(a))

    try:
        report = evaluate_dataset(Calc, CASES, DIGITS, [rubric, "shorter"], config=CONFIG, invoker=factory, workers=1)
    finally:
        REGISTRY.pop("shorter")
    assert (
        report.summary[BASELINE].metrics["rubric"].mean == 0.0
        and report.summary["digits"].metrics["rubric"].mean == 1.0
    )
    assert [it.pairwise["digits"]["shorter"] for it in report.items] == [1.0, 1.0, 1.0]
    cmp = report.summary["digits"].vs_baseline["shorter"]
    assert (cmp.wins, cmp.ties, cmp.losses) == (3, 0, 0) and "shorter" not in report.summary[BASELINE].metrics
    assert (
        "Answer with digits." not in grades.requests[0].messages[-1].content
    )  # the judge sees the answer, not the config
    assert "Rubric: digits, not words" in grades.requests[0].messages[-1].content
