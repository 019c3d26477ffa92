"""``lllm eval``: A/B evaluation of tactics on recorded sessions and on data sets.

A variant changes a run (config overrides, prompt texts, a model); the baseline is the recorded run
(traces) or the default config (data sets). Metrics score each side; a report compares them with
bootstrap confidence intervals and win/tie/loss counts, and gates CI with ``regressions``."""

from __future__ import annotations

from lllm.eval.datasets import Case, DatasetError, load_dataset, select_sessions
from lllm.eval.judge import PairwiseJudge, RubricJudge, pairwise_judge, rubric_judge
from lllm.eval.metrics import (
    Metric,
    MetricError,
    cost,
    exact_match,
    field_match,
    json_schema,
    latency,
    metric,
    pairwise_metric,
    regex,
    resolve_metric,
    success,
    tool_calls,
    tool_errors,
)
from lllm.eval.optimize import Budget, OptimizeResult, optimize_prompt
from lllm.eval.report import Item, Outcome, Report, bootstrap_ci, regressions
from lllm.eval.runner import evaluate_dataset, evaluate_sessions
from lllm.eval.variants import BASELINE, Variant, VariantError, parse_variants

__all__ = [
    "BASELINE",
    "Budget",
    "OptimizeResult",
    "optimize_prompt",
    "Case",
    "DatasetError",
    "Item",
    "Metric",
    "MetricError",
    "Outcome",
    "PairwiseJudge",
    "Report",
    "RubricJudge",
    "Variant",
    "VariantError",
    "bootstrap_ci",
    "cost",
    "evaluate_dataset",
    "evaluate_sessions",
    "exact_match",
    "field_match",
    "json_schema",
    "latency",
    "load_dataset",
    "metric",
    "pairwise_judge",
    "pairwise_metric",
    "parse_variants",
    "regex",
    "regressions",
    "resolve_metric",
    "rubric_judge",
    "select_sessions",
    "success",
    "tool_calls",
    "tool_errors",
]
