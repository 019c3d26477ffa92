"""Session 7 review: an evaluation that stops (a metric raising, Ctrl-C) stops starting new re-runs."""

from __future__ import annotations

import threading

import pytest
from evalkit import Brief, record_all, scripted

from lllm.eval import MetricError, evaluate_sessions, parse_variants, select_sessions
from lllm.logging import sqlite_store

TERSE = parse_variants(["terse:agent_configs.writer.system_prompt=Be terse."])


def test_a_failing_metric_stops_the_evaluation_without_running_the_queued_cases(tmp_path):
    store = sqlite_store(str(tmp_path / "s.db"))
    record_all(store, [f"topic{i}" for i in range(12)])
    cases = select_sessions(store)
    started, lock, never = set(), threading.Lock(), threading.Event()

    def broken(case, result):
        with lock:
            first_call = case.id not in started
            started.add(case.id)
        if case.id == cases[0].id:
            raise ValueError("broken metric")
        if first_call:
            never.wait(1.5)  # the other worker is busy while the evaluation reacts to the failure
        return 1.0

    with pytest.raises(MetricError, match="metric 'broken' failed on item"):
        evaluate_sessions(cases, TERSE, [broken], store=store, tactic=Brief, invoker=scripted("Short."), workers=2)
    assert len(started) <= 4, f"{len(started)} of 12 cases were run after the evaluation had failed"
