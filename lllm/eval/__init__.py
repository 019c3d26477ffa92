"""``lllm eval``: A/B evaluation of tactics on recorded sessions and on data sets.

A variant changes a run (config overrides, prompt texts, a model); the baseline is the recorded run
(traces) or the default config (data sets). Metrics score each side; a report compares them with
bootstrap confidence intervals and win/tie/loss counts, and gates CI with ``regressions``."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
if TYPE_CHECKING:  # pragma: no cover - lets type checkers see the lazily imported names (`X as X`: a re-export)
    from lllm.eval.datasets import (
        Case as Case,
        DatasetError as DatasetError,
        load_dataset as load_dataset,
        select_sessions as select_sessions,
    )
    from lllm.eval.judge import (
        PairwiseJudge as PairwiseJudge,
        RubricJudge as RubricJudge,
        pairwise_judge as pairwise_judge,
        rubric_judge as rubric_judge,
    )
    from lllm.eval.metrics import (
        Metric as Metric,
        MetricError as MetricError,
        cost as cost,
        exact_match as exact_match,
        field_match as field_match,
        json_schema as json_schema,
        latency as latency,
        metric as metric,
        pairwise_metric as pairwise_metric,
        regex as regex,
        resolve_metric as resolve_metric,
        success as success,
        tool_calls as tool_calls,
        tool_errors as tool_errors,
    )
    from lllm.eval.optimize import (
        Budget as Budget,
        OptimizeResult as OptimizeResult,
        optimize_prompt as optimize_prompt,
    )
    from lllm.eval.report import (
        Item as Item,
        Outcome as Outcome,
        Report as Report,
        bootstrap_ci as bootstrap_ci,
        regressions as regressions,
    )
    from lllm.eval.runner import evaluate_dataset as evaluate_dataset, evaluate_sessions as evaluate_sessions
    from lllm.eval.variants import (
        BASELINE as BASELINE,
        Variant as Variant,
        VariantError as VariantError,
        parse_variants as parse_variants,
    )

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
