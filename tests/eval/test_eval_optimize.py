"""lllm.eval.optimize_prompt: a scripted proposer, the train/held-out split, budgets, refusals."""

from __future__ import annotations

import json
from typing import Any, List

import pytest
from test_eval_dataset import CONFIG, Calc

from lllm.errors import ConfigError
from lllm.eval import BASELINE, Budget, DatasetError, MetricError, optimize_prompt
from lllm.eval.optimize import split_cases
from lllm.testing import MockInvoker

CASES = [{"task": f"{a}+{b}", "expected": str(a + b)} for a, b in [(1, 1), (2, 2), (3, 3), (1, 2), (2, 3), (4, 1)]]
TARGET = "agent_configs.a.system_prompt"
CALLS: List[str] = []


def model(dialog: Any) -> str:
    """Digits when the system prompt asks for them, else a word that never matches."""
    system, task = dialog.messages[0].content, dialog.messages[-1].content
    CALLS.append(system)
    return str(sum(int(x) for x in task.split("+"))) if "digits" in system else "many"


def tactic_model(variant: Any) -> MockInvoker:
    return MockInvoker([model] * 50)


def proposer(*rounds: List[str]) -> MockInvoker:
    return MockInvoker([json.dumps({"analysis": "scripted", "prompts": texts}) for texts in rounds])


def test_the_best_candidate_is_chosen_on_train_and_checked_on_held_out_cases():
    prop = proposer(["Add carefully.", "Answer with digits."])
    res = optimize_prompt(
        Calc, CASES, TARGET, "exact_match", config=CONFIG, invoker=tactic_model, proposer_invoker=prop, rounds=1
    )
    assert len(res.train_cases) == 4 and len(res.heldout_cases) == 2
    assert not set(res.train_cases) & set(res.heldout_cases)
    assert res.original_train_mean == 0.0 and res.best is not None and res.best.text == "Answer with digits."
    assert [(c.name, c.train_mean) for c in res.candidates] == [("r1c1", 0.0), ("r1c2", 1.0)]
    held = res.heldout.summary[res.best.name].vs_baseline["exact_match"]
    assert (held.wins, held.losses) == (2, 0) and res.heldout.summary[BASELINE].metrics["exact_match"].mean == 0.0
    assert [it.case_id for it in res.heldout.items] == res.heldout_cases
    # the proposer saw the original's failures
    shown = prop.requests[0].messages[-1].content
    assert "Answer in words." in shown and '"expected": "' in shown and "many" in shown
    assert res.calls == 4 + 1 + 8 and "best: r1c2" in res.table()


def test_the_budget_stops_the_search_but_not_the_count():
    prop = proposer(["Answer with digits."])
    res = optimize_prompt(
        Calc,
        CASES,
        TARGET,
        "exact_match",
        config=CONFIG,
        invoker=tactic_model,
        proposer_invoker=prop,
        budget=Budget(max_calls=5),
    )
    assert res.stopped == "budget: 5 model calls used (max 5)"  # 4 baseline runs + 1 proposal
    assert res.candidates == [] and res.best is None and res.heldout is None


def test_no_improvement_keeps_the_original():
    res = optimize_prompt(
        Calc,
        CASES,
        TARGET,
        "exact_match",
        config=CONFIG,
        invoker=tactic_model,
        proposer_invoker=proposer(["Add, please."], ["Add, please.", "Answer in words."]),  # seen texts are skipped
        rounds=2,
    )
    assert res.best is None and "keep it" in res.table() and [c.text for c in res.candidates] == ["Add, please."]


def test_split_is_seeded_and_refusals_name_the_fix():
    cases = [c for c in map(lambda i: __import__("lllm.eval", fromlist=["Case"]).Case(id=str(i), task=i), range(10))]
    assert split_cases(cases, 0.3, 1) == split_cases(cases, 0.3, 1) != split_cases(cases, 0.3, 2)
    with pytest.raises(ConfigError, match="holdout must be between 0 and 1"):
        split_cases(cases, 1.5, 0)
    with pytest.raises(DatasetError, match="at least 2 cases"):
        optimize_prompt(Calc, CASES[:1], TARGET, "exact_match", config=CONFIG, proposer_invoker=proposer())
    with pytest.raises(ConfigError, match=r"target 'global.model_name.x': the config has NoneType there"):
        optimize_prompt(Calc, CASES, "global.model_name.x", "exact_match", config=CONFIG, proposer_invoker=proposer())
    with pytest.raises(MetricError, match="is pairwise"):
        from lllm.eval import pairwise_judge

        optimize_prompt(Calc, CASES, TARGET, pairwise_judge("x", model="test"), config=CONFIG)
