"""A re-run's answers from its recording keep their price in ``total_cost`` (what the run costs, so a variant
compares with its original) but are not spent again: ``spent_cost`` and ``lllm sessions cost`` leave them out."""

from __future__ import annotations

import json

import pytest

from lllm import Tactic, rerun
from lllm.core.message import Message, Roles
from lllm.logging import sqlite_store
from lllm.testing import MockInvoker


class Pair(Tactic, register=False):
    name = "pair"
    agent_group = ["writer", "critic"]

    def call(self, task: str) -> str:
        writer, critic = self.agents["writer"], self.agents["critic"]
        writer.open("main")
        writer.receive(f"Write about {task}.")
        draft = writer.respond().content
        critic.open("main")
        critic.receive(draft, name="writer")
        return critic.respond().content


CONFIG = {
    "global": {"model_name": "test"},
    "agent_configs": [
        {"name": "writer", "system_prompt": "You write."},
        {"name": "critic", "system_prompt": "You review."},
    ],
}


def _priced(text: str, cost: float) -> Message:
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "cost": cost}
    return Message(role=Roles.ASSISTANT, content=text, name="assistant", usage=usage)


def _recorded(store=None):
    invoker = MockInvoker([_priced("A draft.", 0.25), _priced("Fine.", 0.5)])
    return Pair(CONFIG, invoker=invoker, log_store=store)("otters", return_session=True)


def test_an_exact_replay_costs_what_the_run_costs_and_spends_nothing():
    recorded = _recorded()
    assert recorded.total_cost.cost == pytest.approx(0.75) and recorded.spent_cost.cost == pytest.approx(0.75)
    replayed = rerun(recorded, tactic=Pair)
    assert replayed.total_cost.cost == pytest.approx(0.75)
    assert replayed.spent_cost.cost == 0.0 and replayed.summary()["spent_cost_usd"] == 0.0
    traces = [t for ss in replayed.agent_sessions.values() for s in ss for tt in s.invoke_traces.values() for t in tt]
    assert traces and all(t.replayed for t in traces)
    assert not any(
        t.replayed for ss in recorded.agent_sessions.values() for s in ss for tt in s.invoke_traces.values() for t in tt
    )


def test_a_fork_spends_only_on_the_calls_after_it_diverged():
    recorded = _recorded()
    forked = rerun(
        recorded,
        tactic=Pair,
        invoker=MockInvoker([_priced("Harsh.", 0.125)]),
        overrides={"agent_configs.critic.system_prompt": "You review harshly."},
    )
    assert forked.metadata["diverged_at"]["agent"] == "critic"
    assert forked.total_cost.cost == pytest.approx(0.375)  # the writer's recorded 0.25 + the new 0.125
    assert forked.spent_cost.cost == pytest.approx(0.125)


def test_sessions_cost_does_not_count_a_replays_recorded_answers_twice(tmp_path, capsys):
    from lllm.cli import main

    db = tmp_path / "s.db"
    store = sqlite_store(db)
    recorded = _recorded(store)
    rerun(recorded, tactic=Pair, log_store=store)
    summary = store.export_cost_summary()
    assert summary["total_cost_usd"] == pytest.approx(1.5) and summary["spent_usd"] == pytest.approx(0.75)
    by_id = {s["session_id"]: s for s in summary["sessions"]}
    assert by_id[recorded.session_id]["spent_usd"] == pytest.approx(0.75)
    assert main(["sessions", "cost", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert "2 session(s), total $1.500000, spent $0.750000" in out and "SPENT" in out
    assert main(["sessions", "cost", "--store", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["spent_usd"] == pytest.approx(0.75)


def test_a_store_without_replays_reports_spending_equal_to_cost(tmp_path, capsys):
    from lllm.cli import main

    db = tmp_path / "s.db"
    _recorded(sqlite_store(db))
    assert main(["sessions", "cost", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert "1 session(s), total $0.750000\n" in out  # no "spent" note when nothing was replayed


def test_the_session_browser_marks_replayed_answers_and_shows_what_was_spent(tmp_path):
    from lllm.ui.views import session_view

    store = sqlite_store(tmp_path / "s.db")
    recorded = _recorded(store)
    forked = rerun(
        recorded,
        tactic=Pair,
        invoker=MockInvoker([_priced("Harsh.", 0.125)]),
        overrides={"agent_configs.critic.system_prompt": "You review harshly."},
        log_store=store,
    )
    view = session_view(store, forked.session_id)
    assert {t["agent"]: t["replayed"] for t in view["invokes"]} == {"writer": True, "critic": False}
    assert view["tree"]["cost"] == pytest.approx(0.375) and view["tree"]["spent"] == pytest.approx(0.125)
    original = session_view(store, recorded.session_id)
    assert original["tree"]["spent"] == original["tree"]["cost"] == pytest.approx(0.75)
    assert [c["session_id"] for c in original["children"]] == [forked.session_id]


def test_an_eval_outcome_keeps_cost_and_spent_apart_and_a_search_budget_counts_what_was_spent(tmp_path):
    from lllm.eval import BASELINE, parse_variants
    from lllm.eval.optimize import _spent
    from lllm.eval.runner import evaluate_sessions

    store = sqlite_store(tmp_path / "s.db")
    recorded = _recorded(store)
    report = evaluate_sessions(
        [recorded],
        parse_variants(["harsh:agent_configs.critic.system_prompt=You review harshly."]),
        ["success", "cost"],
        store=store,
        tactic=Pair,
        invoker=lambda variant: MockInvoker([_priced("Harsh.", 0.125)]),
    )
    (item,) = report.items
    base, harsh = item.outcomes[BASELINE], item.outcomes["harsh"]
    assert base.cost == base.spent == pytest.approx(0.75)  # the baseline is the recording: it paid
    assert harsh.cost == pytest.approx(0.375) and harsh.spent == pytest.approx(0.125)
    assert harsh.metrics["cost"] == pytest.approx(0.375)  # both sides compare on what a run costs
    assert _spent(report, skip_baseline=True) == (1, pytest.approx(0.125))
    assert _spent(report, skip_baseline=False) == (3, pytest.approx(0.875))
