"""Session 7 review: a failed run (no result) never passes a metric about its result."""

from __future__ import annotations

from lllm import Tactic
from lllm.eval import BASELINE, evaluate_dataset, parse_variants
from lllm.eval.metrics import json_schema, regex


class Word(Tactic, register=False):
    name = "word"

    def call(self, task: str) -> str:
        if task == "fail":
            raise ValueError("refused")
        return task


def test_a_failed_run_scores_zero_on_regex_and_json_schema():
    pattern, schema = regex("^[a-z]+$"), json_schema("{}")
    report = evaluate_dataset(Word, ["ok", "fail"], parse_variants(["b:model=test"]), [pattern, schema], workers=1)
    ok, failed = (it.outcomes[BASELINE] for it in report.items)
    assert ok.metrics == {pattern.name: 1.0, schema.name: 0.0}  # "ok" is no JSON document
    assert failed.error and failed.metrics == {pattern.name: 0.0, schema.name: 0.0}  # was 1.0: "null" matched
