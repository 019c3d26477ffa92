"""LLM judges written as LLLM tactics: a pairwise preference (asked twice, positions swapped, so a judge
that favours a position cancels out) and a rubric score. Each becomes a metric (``pairwise_judge``,
``rubric_judge``); their own runs are ordinary tactic sessions."""

from __future__ import annotations

import json
import warnings
from typing import Any, Dict, Literal, Optional

from pydantic import BaseModel, Field

from lllm.core.prompt import Prompt
from lllm.core.tactic import Tactic
from lllm.errors import AgentCallError
from lllm.eval.metrics import _FACTORIES, Metric, MetricError

PAIRWISE_SYSTEM = (
    "You compare two answers to the same task and say which better meets the criteria. "
    "Judge substance, not length or position."
)
RUBRIC_SYSTEM = "You grade an answer against a rubric, strictly and consistently."


class PairVerdict(BaseModel):
    """The judge's answer to one comparison."""

    reasons: str = Field(description="one or two sentences")
    better: Literal["1", "2", "tie"] = Field(description="'1', '2' or 'tie'")


class RubricVerdict(BaseModel):
    """The judge's grade of one answer."""

    reasons: str = Field(description="one or two sentences")
    score: int = Field(ge=1, le=5, description="1 (fails the rubric) to 5 (fully meets it)")


COMPARE = Prompt(
    path="lllm_eval/compare",
    prompt=(
        "Task:\n{task}\n\nCriteria: {criteria}\n\nAnswer 1:\n{first}\n\nAnswer 2:\n{second}\n\n"
        "Which answer better meets the criteria? Answer '1', '2' or 'tie'."
    ),
    format=PairVerdict,
)
GRADE = Prompt(
    path="lllm_eval/grade",
    prompt="Task:\n{task}\n\nRubric: {rubric}\n\nAnswer:\n{answer}\n\nGrade the answer from 1 to 5.",
    format=RubricVerdict,
)


def _text(value: Any) -> str:
    from lllm.core.jsonable import to_json_safe

    value = to_json_safe(value)
    return value if isinstance(value, str) else json.dumps(value, indent=1, default=str)


class PairwiseJudge(Tactic, register=False):
    """Task: ``{"task", "first", "second", "criteria"}``; returns ``"1"``, ``"2"`` or ``"tie"``."""

    name = "lllm_eval_pairwise_judge"
    agent_group = ["judge"]

    def call(self, task: Dict[str, Any], **kw: Any) -> str:
        judge = self.agents["judge"]
        judge.open("compare")
        judge.receive_prompt(COMPARE, {k: _text(task.get(k)) for k in ("task", "first", "second", "criteria")})
        verdict: PairVerdict = judge.respond().parsed_as(PairVerdict)
        return verdict.better


class RubricJudge(Tactic, register=False):
    """Task: ``{"task", "answer", "rubric"}``; returns the grade, 1 to 5."""

    name = "lllm_eval_rubric_judge"
    agent_group = ["judge"]

    def call(self, task: Dict[str, Any], **kw: Any) -> int:
        judge = self.agents["judge"]
        judge.open("grade")
        judge.receive_prompt(GRADE, {k: _text(task.get(k)) for k in ("task", "answer", "rubric")})
        verdict: RubricVerdict = judge.respond().parsed_as(RubricVerdict)
        return verdict.score


def judge_config(model: Optional[str], system: str) -> Dict[str, Any]:
    """A judge's config: one agent, ``judge``, on ``model`` (``"test"``: the offline test model)."""
    if not model:
        raise MetricError(
            "an LLM judge needs a model: pass --judge-model M (Python: model='gpt-4o-mini', or model='test' for "
            "the offline test model, or invoker=...)"
        )
    return {"global": {"model_name": model}, "agent_configs": [{"name": "judge", "system_prompt": system}]}


def _no_verdict(name: str, e: AgentCallError) -> None:
    """An answer the judge never gave in its verdict's format: that item is n/a, said as a warning (other
    failures, such as a provider error, stop the evaluation: they would repeat on every item)."""
    if e.reason != "exception_retries":
        raise e
    warnings.warn(
        f"judge '{name}' gave no verdict it could parse, so one item is scored n/a (left out of the mean): {e}",
        RuntimeWarning,
        stacklevel=2,
    )


def pairwise_judge(
    criteria: str = "correct, complete and concise",
    *,
    model: Optional[str] = None,
    invoker: Any = None,
    config: Optional[Dict[str, Any]] = None,
    name: str = "judge",
) -> Metric:
    """A pairwise metric: the judge compares A and B twice, positions swapped. +1 when it prefers B both
    times, -1 when A both times, ±0.5 when one order ties, 0 when the two orders disagree (position bias);
    n/a, with a warning, when the judge gives no verdict it can parse."""
    tactic = PairwiseJudge(
        config or judge_config(model or ("test" if invoker else None), PAIRWISE_SYSTEM), invoker=invoker
    )

    def score(
        task: Any, a: Any, b: Any, a_error: Optional[str] = None, b_error: Optional[str] = None
    ) -> Optional[float]:
        if a_error or b_error:  # a failed side loses without asking
            return 0.0 if a_error and b_error else (1.0 if a_error else -1.0)
        try:
            first = tactic({"task": task, "first": a, "second": b, "criteria": criteria})
            second = tactic({"task": task, "first": b, "second": a, "criteria": criteria})
        except AgentCallError as e:
            _no_verdict(name, e)
            return None
        pref = {"1": -1.0, "2": 1.0}.get(first, 0.0) + {"1": 1.0, "2": -1.0}.get(second, 0.0)
        return pref / 2

    return Metric(name, score, True, True, f"LLM judge, pairwise: {criteria}")


def rubric_judge(
    rubric: str,
    *,
    model: Optional[str] = None,
    invoker: Any = None,
    config: Optional[Dict[str, Any]] = None,
    name: str = "rubric",
) -> Metric:
    """A metric: the judge grades each result 1-5 against ``rubric``, scaled to 0..1 (a failed run, or no grade
    the judge's answer gives: n/a)."""
    tactic = RubricJudge(config or judge_config(model or ("test" if invoker else None), RUBRIC_SYSTEM), invoker=invoker)

    def score(task: Any, result: Any, error: Optional[str] = None) -> Optional[float]:
        if error:
            return None
        try:
            return (int(tactic({"task": task, "answer": result, "rubric": rubric})) - 1) / 4
        except AgentCallError as e:
            _no_verdict(name, e)
            return None

    return Metric(name, score, True, False, f"LLM judge, rubric: {rubric}")


_FACTORIES.update({"judge": pairwise_judge, "rubric": rubric_judge})

__all__ = [
    "PairwiseJudge",
    "RubricJudge",
    "PairVerdict",
    "RubricVerdict",
    "pairwise_judge",
    "rubric_judge",
    "judge_config",
]
