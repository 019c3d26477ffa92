"""``lllm eval``: A/B evaluation of tactics on recorded sessions and on data sets.

A variant changes a run (config overrides, prompt texts, a model); the baseline is the recorded run
(traces) or the default config (data sets). Metrics score each side; a report compares them with
bootstrap confidence intervals and win/tie/loss counts, and gates CI with ``regressions``."""

from __future__ import annotations

from lllm.lazy import lazy_exports as _lazy_exports

_HOMES = {
    "Case": "lllm.eval.datasets",
    "DatasetError": "lllm.eval.datasets",
    "load_dataset": "lllm.eval.datasets",
    "select_sessions": "lllm.eval.datasets",
    "PairwiseJudge": "lllm.eval.judge",
    "RubricJudge": "lllm.eval.judge",
    "pairwise_judge": "lllm.eval.judge",
    "rubric_judge": "lllm.eval.judge",
    "Budget": "lllm.eval.optimize",
    "OptimizeResult": "lllm.eval.optimize",
    "optimize_prompt": "lllm.eval.optimize",
    "Metric": "lllm.eval.metrics",
    "MetricError": "lllm.eval.metrics",
    "cost": "lllm.eval.metrics",
    "exact_match": "lllm.eval.metrics",
    "field_match": "lllm.eval.metrics",
    "json_schema": "lllm.eval.metrics",
    "latency": "lllm.eval.metrics",
    "metric": "lllm.eval.metrics",
    "pairwise_metric": "lllm.eval.metrics",
    "regex": "lllm.eval.metrics",
    "resolve_metric": "lllm.eval.metrics",
    "success": "lllm.eval.metrics",
    "tool_calls": "lllm.eval.metrics",
    "tool_errors": "lllm.eval.metrics",
    "Item": "lllm.eval.report",
    "Outcome": "lllm.eval.report",
    "Report": "lllm.eval.report",
    "bootstrap_ci": "lllm.eval.report",
    "regressions": "lllm.eval.report",
    "evaluate_dataset": "lllm.eval.runner",
    "evaluate_sessions": "lllm.eval.runner",
    "BASELINE": "lllm.eval.variants",
    "Variant": "lllm.eval.variants",
    "VariantError": "lllm.eval.variants",
    "parse_variants": "lllm.eval.variants",
}
__getattr__ = _lazy_exports(__name__, _HOMES)  # `lllm --help` imports lllm.eval.cli, so this stays cheap


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


def __dir__() -> list[str]:
    return __all__
