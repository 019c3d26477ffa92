"""Prompt optimisation on a data set: a proposer (an LLLM tactic) rewrites one prompt from the failures
it is shown, candidates are scored on a training split, and the best is compared with the original on
a held-out split with the usual statistics. Budgets in model calls and dollars bound the search."""

from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Optional, Sequence

from pydantic import BaseModel, Field

from lllm.core.prompt import Prompt
from lllm.core.tactic import Tactic
from lllm.errors import ConfigError
from lllm.eval.datasets import Case, DatasetError, case_from
from lllm.eval.metrics import Metric, MetricError, resolve_metric
from lllm.eval.report import Report
from lllm.eval.runner import MetricRef, _dataset_tactic, new_eval_id, run_dataset
from lllm.eval.variants import BASELINE, Variant

PROPOSER_SYSTEM = (
    "You improve the instructions given to an LLM agent. You read the current instruction and the cases it "
    "got wrong, and write better instructions that would get them right without overfitting to them."
)


class Proposals(BaseModel):
    """The proposer's answer."""

    analysis: str = Field(description="what the failures have in common, in two sentences")
    prompts: List[str] = Field(description="the improved instructions, each complete on its own")


PROPOSE = Prompt(
    path="lllm_eval/propose",
    prompt=(
        "Current instruction:\n<<<\n{current}\n>>>\n\nIt scores {score} on the metric '{metric}' (higher is better). "
        "Cases it got wrong (task, result, expected):\n{failures}\n\nWrite {n} improved versions of the instruction."
    ),
    format=Proposals,
)


class Proposer(Tactic, register=False):
    """Task: ``{"current", "score", "metric", "failures", "n"}``; returns new prompt texts."""

    name = "lllm_eval_proposer"
    agent_group = ["proposer"]

    def call(self, task: Dict[str, Any], **kw: Any) -> List[str]:
        agent = self.agents["proposer"]
        agent.open("propose")
        agent.receive_prompt(PROPOSE, {k: str(task[k]) for k in ("current", "score", "metric", "failures", "n")})
        return [p.strip() for p in agent.respond().parsed_as(Proposals).prompts if p.strip()]


class Budget(BaseModel):
    """Limits of the search (the held-out check runs regardless); ``None``: no limit."""

    max_calls: Optional[int] = None
    max_cost: Optional[float] = None

    def exceeded(self, calls: int, cost: float) -> Optional[str]:
        """Why the search must stop, or ``None``."""
        if self.max_calls is not None and calls >= self.max_calls:
            return f"budget: {calls} model calls used (max {self.max_calls})"
        if self.max_cost is not None and cost >= self.max_cost:
            return f"budget: ${cost:.4f} spent (max ${self.max_cost:.4f})"
        return None


class Candidate(BaseModel):
    """One proposed text and its mean on the training split."""

    name: str
    round: int
    text: str
    train_mean: Optional[float] = None


class OptimizeResult(BaseModel):
    """What the search tried, what it chose and how the choice does on held-out cases."""

    target: str
    metric: str
    original: str
    original_train_mean: Optional[float] = None
    train_cases: List[str] = Field(default_factory=list)
    heldout_cases: List[str] = Field(default_factory=list)
    candidates: List[Candidate] = Field(default_factory=list)
    best: Optional[Candidate] = None
    heldout: Optional[Report] = None
    calls: int = 0
    cost: float = 0.0
    stopped: str = ""

    def table(self) -> str:
        """Candidates by training mean, the choice, then the held-out comparison."""
        lines = [
            f"{self.metric} on {len(self.train_cases)} training case(s); original: {_num(self.original_train_mean)}"
        ]
        for c in sorted(self.candidates, key=lambda c: -(c.train_mean if c.train_mean is not None else -1e9)):
            lines.append(f"  {c.name}: {_num(c.train_mean)}  {_clip(c.text)}")
        lines.append(f"stopped: {self.stopped}; {self.calls} model call(s), ${self.cost:.6f}")
        if self.best is None:
            lines.append("no candidate beat the original on the training split; keep it")
        else:
            lines.append(f"best: {self.best.name}\n{self.best.text}")
        if self.heldout is not None:
            lines.append(f"held-out ({len(self.heldout_cases)} case(s)):\n{self.heldout.table()}")
        return "\n".join(lines)


def _num(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.4g}"


def _clip(text: str, n: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[:n] + "..."


def split_cases(cases: Sequence[Case], holdout: float, seed: int) -> tuple[List[Case], List[Case]]:
    """(train, held-out): a seeded shuffle, ``holdout`` of the cases (at least one each) held out."""
    if not 0 < holdout < 1:
        raise ConfigError(f"holdout must be between 0 and 1 (a fraction of the cases), got {holdout}")
    if len(cases) < 2:
        raise DatasetError("optimising needs at least 2 cases: one to train on and one to hold out")
    order = list(range(len(cases)))
    random.Random(seed).shuffle(order)
    k = min(len(cases) - 1, max(1, round(holdout * len(cases))))
    held = sorted(order[:k])
    train = sorted(order[k:])
    return [cases[i] for i in train], [cases[i] for i in held]


def _get_path(config: Dict[str, Any], path: str) -> Any:
    value: Any = config
    for key in path.split("."):
        if isinstance(value, list):
            value = next((e for e in value if isinstance(e, dict) and e.get("name") == key), None)
        elif isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def _spent(report: Report, skip_baseline: bool) -> tuple[int, float]:
    calls, cost = 0, 0.0
    for it in report.items:
        for side, o in it.outcomes.items():
            if skip_baseline and side == BASELINE:
                continue
            calls += o.model_calls or 0
            cost += o.cost or 0.0
    return calls, cost


def _failures(report: Report, side: str, metric: Metric, limit: int = 5) -> str:
    rows = []
    for it in report.items:
        o = it.outcomes[side]
        v = o.metrics.get(metric.name)
        worst = v is None or (v < 1.0 if metric.higher_is_better else v > 0.0)
        if o.error or worst:
            got = f"ERROR {o.error}" if o.error else o.result
            rows.append(json.dumps({"task": it.task, "result": got, "expected": it.expected}, default=str))
        if len(rows) >= limit:
            break
    return "\n".join(rows) or "(none: every training case scored the best value)"


def optimize_prompt(
    tactic: Any,
    dataset: Sequence[Any],
    target: str,
    metric: MetricRef,
    *,
    config: Optional[Dict[str, Any]] = None,
    runtime: Any = None,
    model: Optional[str] = None,
    invoker: Any = None,
    proposer_model: Optional[str] = None,
    proposer_invoker: Any = None,
    candidates: int = 3,
    rounds: int = 2,
    holdout: float = 0.3,
    seed: int = 0,
    budget: Optional[Budget] = None,
    workers: int = 4,
    log_store: Any = None,
) -> OptimizeResult:
    """Search for a better text of the config string at ``target`` (a dotted path such as
    ``agent_configs.writer.system_prompt``) by ``metric`` (a pointwise metric, higher or lower better).

    Each round the proposer sees the best text so far and up to five of its training failures, proposes
    ``candidates`` texts, and each is scored on the training split. The best candidate, if it beats the
    original there, is compared with the original on the held-out split (``heldout``: a ``Report`` with
    bootstrap intervals). ``budget`` is checked before each proposal and evaluation; the run that crosses it
    finishes, then the search stops. Proposer calls count towards it."""
    m = resolve_metric(metric)
    if m.pairwise:
        raise MetricError(f"metric '{m.name}' is pairwise; optimise on a pointwise metric (e.g. exact_match)")
    if candidates < 1 or rounds < 1:
        raise ConfigError(f"candidates and rounds must be >= 1, got {candidates} and {rounds}")
    budget = budget or Budget()
    cases = [case_from(c, i) for i, c in enumerate(dataset)]
    train, held = split_cases(cases, holdout, seed)
    _, _, _, base_config = _dataset_tactic(tactic, config, runtime, None)
    original = _get_path(base_config, target)
    if not isinstance(original, str):
        raise ConfigError(
            f"optimize target {target!r}: the config has {type(original).__name__} there, not a prompt text; "
            f"name a string such as agent_configs.AGENT.system_prompt"
        )
    from lllm.eval.judge import judge_config

    cfg = judge_config(proposer_model or ("test" if proposer_invoker else model), PROPOSER_SYSTEM)
    cfg["agent_configs"][0]["name"] = "proposer"
    proposer = Proposer(cfg, invoker=proposer_invoker)
    run = dict(config=config, runtime=runtime, model=model, invoker=invoker, workers=workers, log_store=log_store)
    eval_id = new_eval_id()
    result = OptimizeResult(
        target=target,
        metric=m.name,
        original=original,
        train_cases=[c.id for c in train],
        heldout_cases=[c.id for c in held],
    )
    base = run_dataset(tactic, train, [], [m], eval_id=f"{eval_id}-r0", **run)
    result.calls, result.cost = _spent(base, False)
    result.original_train_mean = base.summary[BASELINE].metrics[m.name].mean
    best_text, best_mean, best_report, best_side = original, result.original_train_mean, base, BASELINE
    sign = 1.0 if m.higher_is_better else -1.0
    result.stopped = f"{rounds} round(s) done"
    seen = {original}
    for r in range(1, rounds + 1):
        why = budget.exceeded(result.calls, result.cost)
        if why:
            result.stopped = why
            break
        session = proposer(
            {
                "current": best_text,
                "score": _num(best_mean),
                "metric": m.name,
                "failures": _failures(best_report, best_side, m),
                "n": candidates,
            },
            return_session=True,
        )
        result.calls += sum(
            len(ts) for a in session.agent_sessions.get("proposer", []) for ts in a.invoke_traces.values()
        )
        result.cost += float(session.total_cost.cost)
        texts = [t for t in dict.fromkeys(session.delivery or []) if t not in seen][:candidates]
        if not texts:
            continue
        seen.update(texts)
        why = budget.exceeded(result.calls, result.cost)
        if why:
            result.stopped = why
            break
        variants = [Variant(name=f"r{r}c{i + 1}", overrides={target: t}) for i, t in enumerate(texts)]
        rep = run_dataset(tactic, train, variants, [m], eval_id=f"{eval_id}-r{r}", baseline=base, **run)
        calls, cost = _spent(rep, True)
        result.calls, result.cost = result.calls + calls, result.cost + cost
        for v, text in zip(variants, texts):
            mean = rep.summary[v.name].metrics[m.name].mean
            result.candidates.append(Candidate(name=v.name, round=r, text=text, train_mean=mean))
            if mean is not None and (best_mean is None or sign * (mean - best_mean) > 0):
                best_text, best_mean, best_report, best_side = text, mean, rep, v.name
    if best_side != BASELINE:
        result.best = next(c for c in result.candidates if c.name == best_side)
        result.heldout = run_dataset(
            tactic,
            held,
            [Variant(name=best_side, overrides={target: best_text})],
            [m],
            eval_id=f"{eval_id}-heldout",
            **run,
        )
    return result


__all__ = ["Budget", "Candidate", "OptimizeResult", "Proposer", "Proposals", "optimize_prompt", "split_cases"]
