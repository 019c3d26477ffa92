"""Session 7 review: an evaluation that stops (a metric raising, Ctrl-C) stops starting new re-runs."""

from __future__ import annotations

import threading

import pytest
from evalkit import Brief, record_all, scripted

from lllm import Tactic
from lllm.eval import MetricError, evaluate_dataset, evaluate_sessions, parse_variants, select_sessions
from lllm.eval.datasets import DatasetError
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


class Upper(Tactic, register=False):
    name = "upper"

    def call(self, task: str) -> str:
        return task.upper()


def test_resuming_an_evaluation_on_a_changed_data_set_names_the_eval_id_not_a_batch_id(tmp_path):
    store = sqlite_store(str(tmp_path / "s.db"))
    model = parse_variants(["b:model=test"])
    evaluate_dataset(Upper, ["a", "b"], model, ["success"], log_store=store, eval_id="e1", workers=1)
    again = evaluate_dataset(Upper, ["a", "b"], model, ["success"], log_store=store, eval_id="e1", workers=1)
    assert [it.outcomes["b"].result for it in again.items] == ["A", "B"]  # resumed: same data set
    with pytest.raises(DatasetError) as err:
        evaluate_dataset(Upper, ["a", "changed"], model, ["success"], log_store=store, eval_id="e1", workers=1)
    assert "evaluation 'e1'" in str(err.value) and "--eval-id" in str(err.value)
    assert "batch_id" not in str(err.value)  # the user never named a batch


def test_select_sessions_limit_is_at_most_that_many(tmp_path):
    from lllm.eval import select_sessions

    store = sqlite_store(str(tmp_path / "s.db"))
    record_all(store, ["a", "b", "c"])
    assert len(select_sessions(store, limit=2)) == 2
    with pytest.raises(DatasetError, match="no recorded session matches"):
        select_sessions(store, limit=0)  # was one session
