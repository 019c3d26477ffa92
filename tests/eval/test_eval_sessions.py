"""lllm.eval on recorded sessions: forks are recorded and linked, metrics, judges, resume, a real HTTP model."""

from __future__ import annotations

import json

import pytest
from evalkit import LOOKUPS, Brief, config, record_all, scripted

from lllm.eval import (
    BASELINE,
    Variant,
    VariantError,
    evaluate_sessions,
    metric,
    pairwise_judge,
    parse_variants,
    select_sessions,
)
from lllm.eval.metrics import REGISTRY
from lllm.logging import sqlite_store
from lllm.testing import MockInvoker, tool_calls

TERSE = parse_variants(["terse:agent_configs.writer.system_prompt=Be terse."])


@pytest.fixture
def store(tmp_path):
    return sqlite_store(str(tmp_path / "sessions.db"))


def test_each_rerun_is_a_recorded_session_linked_to_its_parent_with_identical_calls_replayed(store):
    ids = record_all(store)
    report = evaluate_sessions(
        select_sessions(store), TERSE, ["success", "tool_calls"], store=store, tactic=Brief, invoker=scripted("Short.")
    )
    assert sorted(it.recorded_session for it in report.items) == sorted(ids)
    for it in report.items:
        b = it.outcomes["terse"]
        assert b.result == "Short." and b.replayed_calls == 2 and b.diverged_at == {"agent": "writer", "call_index": 0}
        saved = store.load_session(b.session_id)
        assert saved.metadata["replay_of"] == it.recorded_session
        row = store.list_sessions(tags={"lllm.eval_id": report.eval_id, "lllm.eval_case": it.case_id}, limit=None)
        assert [r.tags["lllm.replay_of"] for r in row] == [it.recorded_session]
        assert it.outcomes[BASELINE].result.startswith("A long brief about")
    assert LOOKUPS == []  # every tool call of the re-runs was answered from the recording
    # a second evaluation does not pick up the first one's re-runs as traces
    assert len(select_sessions(store)) == 3


def test_a_metric_that_prefers_b_wins_every_item_with_a_tight_interval(store):
    record_all(store)

    @metric(name="short")
    def short(result: str) -> bool:
        return len(result.split()) <= 3

    try:
        report = evaluate_sessions(
            select_sessions(store), TERSE, ["short"], store=store, tactic=Brief, invoker=scripted("Short.")
        )
    finally:
        REGISTRY.pop("short")
    cmp = report.summary["terse"].vs_baseline["short"]
    assert (cmp.wins, cmp.ties, cmp.losses) == (3, 0, 0)
    assert cmp.delta.mean == 1.0 and (cmp.delta.low, cmp.delta.high) == (1.0, 1.0)
    assert report.summary[BASELINE].metrics["short"].mean == 0.0


def test_a_variant_that_breaks_a_tool_call_runs_it_live_and_loses_on_tool_errors(store):
    record_all(store)
    broken = parse_variants(["broken:agent_configs.researcher.system_prompt=Research carefully."])
    report = evaluate_sessions(
        select_sessions(store),
        broken,
        ["success", "tool_errors"],
        store=store,
        tactic=Brief,
        workers=1,
        invoker=scripted(tool_calls(("lookup", {"topic": "forbidden"}, "x1")), "<notes>none</notes>", "Sorry."),
    )
    assert LOOKUPS == ["forbidden"] * 3  # the changed call was not in the recording: it ran, and failed
    cmp = report.summary["broken"].vs_baseline["tool_errors"]
    assert (cmp.wins, cmp.ties, cmp.losses) == (0, 0, 3)
    assert report.items[0].outcomes["broken"].diverged_at == {"agent": "researcher", "call_index": 0}
    assert "-A long brief about" in report.items[0].diff("broken") and "+Sorry." in report.items[0].diff("broken")


def _verdict(better: str) -> str:
    return json.dumps({"reasons": "scripted", "better": better})


def test_a_scripted_judge_is_asked_twice_with_positions_swapped(store):
    record_all(store, ["tides"])
    judge_inv = MockInvoker([_verdict("2"), _verdict("1")])  # prefers B in both orders
    judge = pairwise_judge("clearer", invoker=judge_inv)
    report = evaluate_sessions(
        select_sessions(store), TERSE, [judge], store=store, tactic=Brief, invoker=scripted("Short.")
    )
    assert report.items[0].pairwise["terse"]["judge"] == 1.0
    first, second = (r.messages[-1].content for r in judge_inv.requests)
    assert first.index("A long brief") < first.index("Short.")  # A shown first ...
    assert second.index("Short.") < second.index("A long brief")  # ... then B first


def test_a_judge_biased_to_the_first_position_cancels_out(store):
    record_all(store, ["tides", "waves"])
    biased = pairwise_judge("clearer", invoker=MockInvoker([_verdict("1")] * 4))
    report = evaluate_sessions(
        select_sessions(store), TERSE, [biased], store=store, tactic=Brief, invoker=scripted("Short."), workers=1
    )
    cmp = report.summary["terse"].vs_baseline["judge"]
    assert [it.pairwise["terse"]["judge"] for it in report.items] == [0.0, 0.0] and cmp.ties == 2


def test_the_same_eval_id_reuses_finished_reruns(store):
    record_all(store)
    calls = []

    def factory(variant: Variant) -> MockInvoker:
        calls.append(variant.name)
        return MockInvoker(["Short."])

    first = evaluate_sessions(
        select_sessions(store), TERSE, ["success"], store=store, tactic=Brief, invoker=factory, eval_id="e1"
    )
    again = evaluate_sessions(
        select_sessions(store), TERSE, ["success"], store=store, tactic=Brief, invoker=factory, eval_id="e1"
    )
    assert len(calls) == 3
    assert [it.outcomes["terse"].session_id for it in again.items] == [
        it.outcomes["terse"].session_id for it in first.items
    ]


def test_variant_errors_name_the_variant_and_the_fix(store):
    record_all(store, ["tides"])
    bad = parse_variants(["oops:agent_configs.editor.system_prompt=x"])
    with pytest.raises(VariantError, match=r"variant 'oops'.*no agent 'editor'.*\['researcher', 'writer'\]"):
        evaluate_sessions(select_sessions(store), bad, ["success"], store=store, tactic=Brief, invoker=scripted("x"))
    same = parse_variants(["same:agent_configs.writer.system_prompt=You write."])
    with pytest.raises(VariantError, match="variant 'same'.*changes nothing"):
        evaluate_sessions(select_sessions(store), same, ["success"], store=store, tactic=Brief, invoker=scripted("x"))
    with pytest.raises(VariantError, match="config=fast applies to data sets"):
        evaluate_sessions(select_sessions(store), parse_variants(["p:config=fast"]), store=store, tactic=Brief)


def test_variants_fork_to_a_real_openai_compatible_server(store, fake_servers):
    base = fake_servers("--answer-words", "5")
    fake_servers.stats(base, reset=True)
    cfg = config(model_args={"base_url": base, "api_key": "sk-local-test"})
    cfg["global"]["model_name"] = "gpt-4o-mini"
    record_all(store, ["tides", "waves"], cfg)
    report = evaluate_sessions(
        select_sessions(store), TERSE, ["success", "latency"], store=store, tactic=Brief, workers=2
    )
    stats = fake_servers.stats(base)
    assert stats["chat_requests"] == 2  # one forked writer call per session; the rest came from the recordings
    for it in report.items:
        b = it.outcomes["terse"]
        assert b.error is None and b.replayed_calls == 2 and len(b.result.split()) == 5
        assert b.latency_s > 0


def test_live_tools_runs_recorded_tool_calls_for_real(store):
    record_all(store, ["tides", "waves"])
    report = evaluate_sessions(
        select_sessions(store),
        TERSE,
        ["tool_calls"],
        store=store,
        tactic=Brief,
        invoker=scripted("Short."),
        live_tools=True,
        workers=1,
    )
    assert sorted(LOOKUPS) == ["tides", "waves"]  # same calls as recorded, but run again
    assert all(it.outcomes["terse"].replayed_calls == 2 for it in report.items)


def test_a_prompt_variant_edits_the_template_for_the_rerun_only(store):
    record_all(store, ["tides"])
    deep = parse_variants(["deep:prompts.eval_kit/ask=Research {topic} in depth"])
    inv = MockInvoker(["<notes>deep notes</notes>", "Deep brief."])
    report = evaluate_sessions(select_sessions(store), deep, ["success"], store=store, tactic=Brief, invoker=inv)
    b = report.items[0].outcomes["deep"]
    assert b.result == "Deep brief." and b.diverged_at == {"agent": "researcher", "call_index": 0}
    assert inv.requests[0].messages[-1].content == "Research tides in depth"
    with pytest.raises(VariantError, match=r"variant 'nope': prompt 'no/such'"):
        evaluate_sessions(
            select_sessions(store), parse_variants(["nope:prompts.no/such=x"]), store=store, tactic=Brief, invoker=inv
        )


def test_sessions_of_an_unknown_tactic_stop_the_evaluation_with_the_fix(store):
    from lllm.errors import LLLMError

    record_all(store, ["tides"])
    with pytest.raises(LLLMError, match="no tactic .* is registered .*Load its package"):
        evaluate_sessions(select_sessions(store), TERSE, ["success"], store=store, invoker=scripted("x"))
