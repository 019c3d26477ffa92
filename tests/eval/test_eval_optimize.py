"""lllm.eval.optimize_prompt: a scripted proposer, the train/held-out split, budgets, refusals."""

from __future__ import annotations

import json
from typing import Any, List

import pytest
from test_eval_dataset import CONFIG, Calc

from lllm.errors import ConfigError
from lllm.eval import BASELINE, Budget, DatasetError, MetricError, optimize_prompt
from lllm.eval.metrics import Metric
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
    assert res.heldout_calls == 2 + 2 and "held-out (2 case(s); 4 model call(s)" in res.table()


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


# ---------------------------------------------------------------------------------------------
# recorded sessions: a package prompt's template, re-run with rerun(..., prompts={KEY: text})
# ---------------------------------------------------------------------------------------------
SEEN: List[str] = []
TOPICS6 = ["tides", "waves", "wind", "rain", "snow", "fog"]


def fork_model(dialog: Any) -> str:
    """The forked part of each re-run: deep notes when the researcher is asked for depth."""
    system, last = dialog.messages[0].content, dialog.messages[-1].content
    SEEN.append(last)
    if system == "You research.":
        return "<notes>deep</notes>" if "in depth" in last else "<notes>plain</notes>"
    return "A deep brief." if "deep" in last else "A plain brief."


def deep(result: Any) -> bool:
    """1 when the brief is a deep one."""
    return "deep" in str(result)


@pytest.fixture
def traces(tmp_path):
    from evalkit import LOOKUPS, record_all

    from lllm.logging import sqlite_store

    store = sqlite_store(str(tmp_path / "s.db"))
    record_all(store, TOPICS6)
    SEEN.clear()
    yield store
    assert LOOKUPS == []  # the recorded tool calls were never run again


def optimize_traces(store: Any, prop: MockInvoker, **kw: Any) -> Any:
    from evalkit import Brief

    from lllm.eval import select_sessions

    kw.setdefault("target", "prompts.eval_kit/ask")
    return optimize_prompt(
        Brief,
        metric=deep,
        sessions=select_sessions(store),
        store=store,
        invoker=lambda variant: MockInvoker([fork_model] * 4),
        proposer_invoker=prop,
        **kw,
    )


def test_on_recorded_sessions_a_package_prompt_improves_and_a_broken_placeholder_is_never_run(traces):
    prop = proposer(["Research {topic} quickly."], ["Look into {subject} in depth.", "Research {topic} in depth."])
    res = optimize_traces(traces, prop, rounds=2)
    assert res.mode == "sessions" and res.target == "prompts.eval_kit/ask" and res.original == "Research {topic}"
    assert res.placeholders == ["topic"] and len(res.train_cases) == 4 and len(res.heldout_cases) == 2
    assert res.original_train_mean == 0.0  # the recordings, scored as they are
    assert [(c.name, c.train_mean, c.rejected) for c in res.candidates] == [
        ("r1c1", 0.0, None),
        ("r2c1", None, "drops placeholder(s) ['topic']; adds placeholder(s) ['subject']"),
        ("r2c2", 1.0, None),
    ]
    assert not any("Look into" in text for text in SEEN)  # the rejected text never reached a model
    assert res.best.text == "Research {topic} in depth." and res.stopped == "2 round(s) done"
    # 2 proposals + 2 rounds x 4 training sessions x 2 forked calls; recorded and replayed calls are free
    assert res.calls == 2 + 2 * 4 * 2
    held = res.heldout.summary["r2c2"]
    cmp = held.vs_baseline["deep"]
    assert (cmp.wins, cmp.ties, cmp.losses) == (2, 0, 0) and cmp.delta.mean == 1.0
    assert held.metrics["deep"].mean == 1.0 and res.heldout.summary[BASELINE].metrics["deep"].mean == 0.0
    assert sorted(it.recorded_session for it in res.heldout.items) == sorted(res.heldout_cases)
    # the proposer saw the current text, what to keep, and the recordings it did not get right
    first = prop.requests[0].messages[-1].content
    assert "<<<\nResearch {topic}\n>>>" in first and "keep each of {topic} exactly" in first
    assert "A long brief about" in first
    assert "rejected (drops placeholder(s) ['topic']" in res.table()
    # every re-run was saved and linked; the traces to select from are still the six recordings
    from lllm.eval import select_sessions

    assert len(select_sessions(traces)) == 6
    reruns = traces.list_sessions(tags={"lllm.eval_variant": "r2c2"}, limit=None)
    assert len(reruns) == 4 + 2 and all(r.tags["lllm.replay_of"] for r in reruns)


def test_on_recorded_sessions_the_budget_stops_the_search(traces):
    prop = proposer(["Research {topic} quickly."], ["Research {topic} in depth."])
    res = optimize_traces(traces, prop, rounds=2, budget=Budget(max_calls=9))
    assert res.stopped == "budget: 9 model calls used (max 9)"  # 1 proposal + 4 sessions x 2 forked calls
    assert [c.name for c in res.candidates] == ["r1c1"] and res.best is None and res.heldout is None
    assert len(prop.requests) == 1


def test_a_config_text_of_the_recordings_and_refusals_name_the_fix(traces):
    from evalkit import Brief

    from lllm.eval import select_sessions

    res = optimize_prompt(
        Brief,
        target="agent_configs.writer.system_prompt",
        metric=deep,
        sessions=select_sessions(traces),
        store=traces,
        invoker=lambda variant: MockInvoker(["A deep brief."]),
        proposer_invoker=proposer(["You write deep briefs."]),
        rounds=1,
    )
    assert res.original == "You write." and res.best.text == "You write deep briefs." and res.calls == 1 + 4
    assert res.heldout.summary[res.best.name].metrics["deep"].mean == 1.0
    broken = optimize_traces(traces, proposer(["Research {topic"]), rounds=1)  # what the re-run cannot parse
    assert broken.candidates[0].rejected.startswith("does not parse") and broken.best is None and SEEN == []
    with pytest.raises(ConfigError, match=r"prompt 'no/such': no such prompt"):
        optimize_traces(traces, proposer(), target="prompts.no/such")
    with pytest.raises(ConfigError, match="a package prompt is optimised on recorded sessions"):
        optimize_prompt(Calc, CASES, "prompts.eval_kit/ask", "exact_match", config=CONFIG, proposer_invoker=proposer())
    with pytest.raises(ConfigError, match="needs one source"):
        optimize_prompt(Calc, target=TARGET, metric="exact_match", config=CONFIG)
    with pytest.raises(ConfigError, match="backend='ray' applies to data sets"):
        optimize_traces(traces, proposer(), backend="ray")


def test_a_dollar_budget_stops_the_search_on_forks_to_a_real_http_server(tmp_path, fake_servers):
    from evalkit import Brief, config, record_all

    from lllm.eval import select_sessions
    from lllm.logging import sqlite_store

    base = fake_servers("--answer-words", "3")
    cfg = config(model_args={"base_url": base, "api_key": "sk-local-test"})
    cfg["global"]["model_name"] = "gpt-4o-mini"
    store = sqlite_store(str(tmp_path / "s.db"))
    record_all(store, TOPICS6, cfg)
    fake_servers.stats(base, reset=True)
    prop = proposer(["You write briefly."], ["You write very briefly."])
    res = optimize_prompt(
        Brief,
        target="agent_configs.writer.system_prompt",
        metric=WORDS,
        sessions=select_sessions(store),
        store=store,
        proposer_invoker=prop,
        budget=Budget(max_cost=1e-9),
        rounds=2,
    )
    # one forked writer call per session: 4 training sessions in round 1, then the 2 held out
    assert fake_servers.stats(base)["chat_requests"] == 4 + 2
    assert res.cost > 0 and res.stopped.startswith("budget: $") and len(prop.requests) == 1
    assert res.calls == 1 + 4 and res.heldout_calls == 2 and res.heldout_cost > 0
    assert [c.train_mean for c in res.candidates] == [3.0] and res.best.name == "r1c1"  # 3 words beat the recordings
    assert res.heldout.summary["r1c1"].metrics["words"].mean == 3.0


def _words(result: Any) -> int:
    """Words in the answer."""
    return len(str(result).split())


WORDS = Metric("words", _words, higher_is_better=False)
