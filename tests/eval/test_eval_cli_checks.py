"""Session 7 review: `lllm eval --fail-under` naming no metric of the evaluation is refused before it runs."""

from __future__ import annotations

import pytest
from support.duo_project import run_cli as lllm, write_duo_project


@pytest.fixture
def project(tmp_path):
    write_duo_project(tmp_path)
    (tmp_path / "cases.jsonl").write_text('{"task": "alpha", "expected": "x"}\n"beta"\n')
    return tmp_path


def test_a_gate_on_an_unknown_metric_is_refused_before_anything_runs(project):
    data = ["eval", "demo.tactics:duo", "--dataset", "cases.jsonl", "--variant", "b:model=test", "--eval-id", "e1"]
    bad = lllm(project, *data, "--fail-under", "exact_macth=0.8", code=1)
    assert "--fail-under exact_macth" in bad.stderr and "exact_match" in bad.stderr
    assert "progress" not in bad.stderr and bad.stdout == ""  # nothing ran, no table
    bad = lllm(project, *data, "--metric", "success", "--fail-under", "cost=0.1", code=1)
    assert "--fail-under cost" in bad.stderr and "['success']" in bad.stderr
    ok = lllm(project, *data, "--fail-under", "exact_match=0", "--fail-under", "cost=1")  # defaults: known names
    assert "exact_match" in ok.stdout
