"""Prompt optimisation on a data set or on recorded sessions: a proposer (an LLLM tactic) rewrites one
prompt (a config text, or a package prompt's template on traces) from the failures it is shown, keeping its
placeholders; candidates are scored on a training split, and the best is compared with the original on a
held-out split with the usual statistics. Budgets in model calls and dollars bound the search."""

from __future__ import annotations

import dataclasses
import json
import random
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Type, TypeVar, Union

from pydantic import BaseModel, Field

from lllm.core.prompt import Prompt
from lllm.core.tactic import Tactic
from lllm.errors import ConfigError
from lllm.eval.datasets import DatasetError, case_from
from lllm.eval.metrics import Metric, MetricError, resolve_metric
from lllm.eval.report import Report
from lllm.eval.reruns import InvokerArg
from lllm.eval.runner import MetricRef, dataset_tactic, new_eval_id, run_dataset, run_sessions
from lllm.eval.variants import BASELINE, Variant

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import RuntimeLike, SessionStore
    from lllm.core.tactic import Tactic
    from lllm.invokers.base import BaseInvoker

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
        "Current instruction:\n<<<\n{current}\n>>>\n\nIt scores {score} on the metric '{metric}' ({better}). "
        "Cases it got wrong (task, result, expected):\n{failures}\n\n{keep}\n\n"
        "Write {n} improved versions of the instruction."
    ),
    format=Proposals,
)


class Proposer(Tactic, register=False):
    """Task: ``{"current", "score", "metric", "better", "failures", "keep", "n"}``; returns new prompt texts."""

    name = "lllm_eval_proposer"
    agent_group = ["proposer"]

    def call(self, task: Dict[str, Any], **kw: Any) -> List[str]:
        agent = self.agents["proposer"]
        agent.open("propose")
        agent.receive_prompt(
            PROPOSE, {k: str(task[k]) for k in ("current", "score", "metric", "better", "failures", "keep", "n")}
        )
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
    """One proposed text and its mean on the training split; ``rejected``: why it was not run."""

    name: str
    round: int
    text: str
    train_mean: Optional[float] = None
    rejected: Optional[str] = None


class OptimizeResult(BaseModel):
    """What the search tried, what it chose and how the choice does on held-out cases."""

    target: str
    mode: str = "dataset"
    metric: str
    original: str
    placeholders: List[str] = Field(default_factory=list)
    original_train_mean: Optional[float] = None
    train_cases: List[str] = Field(default_factory=list)
    heldout_cases: List[str] = Field(default_factory=list)
    candidates: List[Candidate] = Field(default_factory=list)
    best: Optional[Candidate] = None
    heldout: Optional[Report] = None
    calls: int = 0
    cost: float = 0.0
    heldout_calls: int = 0
    heldout_cost: float = 0.0
    stopped: str = ""

    def table(self) -> str:
        """Candidates by training mean, the choice, then the held-out comparison."""
        lines = [
            f"{self.metric} on {len(self.train_cases)} training case(s); original: {_num(self.original_train_mean)}"
        ]
        ran = [c for c in self.candidates if c.rejected is None]
        for c in sorted(ran, key=lambda c: -(c.train_mean if c.train_mean is not None else -1e9)):
            lines.append(f"  {c.name}: {_num(c.train_mean)}  {_clip(c.text)}")
        for c in self.candidates:
            if c.rejected is not None:
                lines.append(f"  {c.name}: rejected ({c.rejected})  {_clip(c.text)}")
        lines.append(f"stopped: {self.stopped}; {self.calls} model call(s), ${self.cost:.6f}")
        if self.best is None:
            lines.append("no candidate beat the original on the training split; keep it")
        else:
            lines.append(f"best: {self.best.name}\n{self.best.text}")
        if self.heldout is not None:
            lines.append(
                f"held-out ({len(self.heldout_cases)} case(s); {self.heldout_calls} model call(s), "
                f"${self.heldout_cost:.6f}, outside the budget):\n{self.heldout.table()}"
            )
        return "\n".join(lines)

    def _redacted(self) -> "OptimizeResult":
        """This result as ``lllm optimize --json`` writes it: credentials hidden as in a report's JSON."""
        from lllm.logging.redact import redact

        data = redact(self.model_dump(mode="json", exclude={"heldout"}))
        if self.heldout is not None:
            data["heldout"] = self.heldout._redacted().model_dump(mode="json")
        return OptimizeResult.model_validate(data)


def _num(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.4g}"


def _clip(text: str, n: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[:n] + "..."


T = TypeVar("T")


def split_cases(cases: Sequence[T], holdout: float, seed: int) -> tuple[List[T], List[T]]:
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
            cost += (o.cost if o.spent is None else o.spent) or 0.0  # a report from before ``spent``: its cost
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


class _Target:
    """What is being optimised: its original text, its placeholders, and how a text becomes a variant."""

    def __init__(
        self,
        name: str,
        original: str,
        keep: List[str],
        check: Callable[[str], Optional[str]],
        prompt_key: Optional[str] = None,
    ):
        self.name, self.original, self.keep, self.check, self.prompt_key = name, original, keep, check, prompt_key

    def variant(self, name: str, text: str) -> Variant:
        if self.prompt_key is not None:
            return Variant(name=name, prompts={self.prompt_key: text})
        return Variant(name=name, overrides={self.name: text})


def _placeholders(make: Callable[[str], Prompt], text: str) -> Optional[frozenset[str]]:
    """The placeholder names of ``text`` as the prompt's renderer reads them (``None``: it cannot tell)."""
    return make(text)._template()[0]


def _placeholder_check(
    make: Callable[[str], Prompt], original: str, more: Optional[Callable[[str], None]] = None
) -> tuple[List[str], Callable[[str], Optional[str]]]:
    """(the original's placeholders, a check giving why a proposed text is refused, or ``None``)."""
    try:
        keep = _placeholders(make, original)
    except ValueError:  # a config string that is no template: nothing to keep
        keep = None

    def check(text: str) -> Optional[str]:
        try:
            names = _placeholders(make, text)
        except ValueError as e:
            return f"does not parse: {e}"
        if keep is not None and names is not None and names != keep:
            lost, added = sorted(keep - names), sorted(names - keep)
            why = [f"drops placeholder(s) {lost}"] if lost else []
            why += [f"adds placeholder(s) {added}"] if added else []
            return "; ".join(why)
        if more is not None:
            try:
                more(text)
            except ConfigError as e:
                return str(e)
        return None

    return sorted(keep or ()), check


def _config_target(target: str, config: Dict[str, Any], where: str) -> _Target:
    original = _get_path(config, target)
    if not isinstance(original, str):
        raise ConfigError(
            f"optimize target {target!r}: {where} has {type(original).__name__} there, not a prompt text; "
            f"name a string such as agent_configs.AGENT.system_prompt, or a prompt with prompts.KEY"
        )
    keep, check = _placeholder_check(lambda t: Prompt(path="lllm_eval/target", prompt=t), original)
    return _Target(target, original, keep, check)


def _prompt_target(key: str, recorded: Any, tactic: Any, runtime: Any) -> _Target:
    """The prompt ``key`` as the recorded session's re-runs will render it (``session_prompts``)."""
    from lllm.logging.forks import prompt_edits, recorded_tactic, resolve_prompt_key, session_prompts
    from lllm.packages.runtime import get_default_runtime

    rt = runtime if runtime is not None else get_default_runtime()
    cls = recorded_tactic(recorded, tactic, rt)
    use = resolve_prompt_key(key, session_prompts(recorded, runtime=rt, tactic=cls), rt)
    if not isinstance(use.template, str):
        raise ConfigError(
            f"prompt {use.key!r}: its current text is unknown (not in the runtime, the tactic's module or the "
            f"recording of session {recorded.session_id}); load the package that defines it"
        )
    base: Optional[Prompt] = use.prompt

    def make(text: str) -> Prompt:
        if base is not None:
            return base.extend(path=base.path, prompt=text)
        return Prompt(path=use.key.split(":", 1)[-1] or "edited", prompt=text)

    def as_rerun(text: str) -> None:  # what rerun itself refuses: placeholders the tactic never supplies, ...
        prompt_edits(recorded, {use.key: text}, runtime=rt, tactic=cls)

    keep, check = _placeholder_check(make, use.template, as_rerun)
    return _Target(f"prompts.{use.key}", use.template, keep, check, use.key)


def _keep_note(names: List[str]) -> str:
    if not names:
        return "The instruction has no placeholders; do not add any (write a literal brace as two braces)."
    shown = ", ".join("{" + n + "}" for n in names)
    return (
        f"Placeholders are filled in when the instruction is used: keep each of {shown} exactly as written, "
        f"add no other (write a literal brace as two braces)."
    )


def optimize_prompt(
    tactic: Union[Type["Tactic"], "Tactic", str, None] = None,
    dataset: Optional[Sequence[Any]] = None,
    target: Optional[str] = None,
    metric: Optional[MetricRef] = None,
    *,
    sessions: Optional[Sequence[Any]] = None,
    store: Optional["SessionStore"] = None,
    live_tools: bool = False,
    config: Optional[Dict[str, Any]] = None,
    runtime: Optional["RuntimeLike"] = None,
    model: Optional[str] = None,
    invoker: InvokerArg = None,
    proposer_model: Optional[str] = None,
    proposer_invoker: Optional["BaseInvoker"] = None,
    candidates: int = 3,
    rounds: int = 2,
    holdout: float = 0.3,
    seed: int = 0,
    budget: Optional[Budget] = None,
    workers: int = 4,
    log_store: Optional["SessionStore"] = None,
    backend: str = "local",
    backend_options: Optional[Dict[str, Any]] = None,
) -> OptimizeResult:
    """Search for a better text of ``target`` by ``metric`` (pointwise; higher or lower better), on a data
    set (``dataset``, run with ``tactic`` and ``config``) or on recorded sessions (``sessions``: sessions, ids
    or ``select_sessions`` cases, loaded from and re-run into ``store`` as ``evaluate_sessions`` does).

    ``target``: a dotted config path (``agent_configs.writer.system_prompt``), or ``prompts.KEY`` for the
    template of a package prompt (recorded sessions only; re-run with ``rerun(..., prompts={KEY: text})``).
    Each round the proposer sees the best text so far, its placeholders and up to five of its training
    failures, and proposes ``candidates`` texts. A text that drops, renames or adds a placeholder (or that
    the re-run would refuse) is rejected without running; it still takes its slot, and the proposer call
    that made it counts. The others are scored on the training split. The best candidate, if it beats the
    original there, is compared with the original on the held-out split (``heldout``: a ``Report`` with
    bootstrap intervals). ``budget`` is checked before each proposal and evaluation; the run that crosses it
    finishes, then the search stops. Proposer calls count towards it; replayed calls do not."""
    path, m = _checked(target, metric, dataset is not None, sessions is not None, candidates, rounds, backend)
    eval_id = new_eval_id()
    shared: Dict[str, Any] = dict(runtime=runtime, model=model, invoker=invoker, workers=workers)
    if dataset is not None:
        run = dict(shared, config=config, log_store=log_store, backend=backend, backend_options=backend_options)
        source = _dataset_source(tactic, dataset, path, m, (holdout, seed), run)
    else:
        run = dict(shared, store=store, tactic=tactic, live_tools=live_tools)
        source = _sessions_source(sessions or [], path, m, (holdout, seed), run)
    proposer = _proposer(proposer_model or ("test" if proposer_invoker else model), proposer_invoker)
    return _Search(source, m, budget or Budget(), eval_id).run(proposer, candidates, rounds)


def _checked(
    target: Optional[str],
    metric: Optional[MetricRef],
    on_dataset: bool,
    on_sessions: bool,
    candidates: int,
    rounds: int,
    backend: str,
) -> tuple[str, Metric]:
    """``(target, the metric)`` once the arguments of ``optimize_prompt`` make sense together."""
    if metric is None or target is None:
        raise ConfigError("optimize_prompt needs target=... (a dotted config path or prompts.KEY) and metric=...")
    if on_dataset == on_sessions:
        raise ConfigError("optimize_prompt needs one source: dataset=[...] (with tactic) or sessions=[...]")
    m = resolve_metric(metric)
    if m.pairwise:
        raise MetricError(f"metric '{m.name}' is pairwise; optimise on a pointwise metric (e.g. exact_match)")
    if candidates < 1 or rounds < 1:
        raise ConfigError(f"candidates and rounds must be >= 1, got {candidates} and {rounds}")
    if on_sessions and backend != "local":
        raise ConfigError(f"backend={backend!r} applies to data sets; re-runs of recorded sessions run here")
    return target, m


_Score = Callable[[List[Any], List[Variant], str, Optional[Report]], Report]


@dataclasses.dataclass
class _Source:
    """What the search runs on: its mode, target, split (and the case ids of each part) and how it scores."""

    mode: str
    goal: _Target
    train: List[Any]
    held: List[Any]
    ids: tuple[List[str], List[str]]
    score: _Score  # (cases, variants, eval id, the baseline's earlier report or None) -> report


def _dataset_source(
    tactic: Any, dataset: Sequence[Any], target: str, m: Metric, split: tuple[float, int], run: Dict[str, Any]
) -> _Source:
    """A data set's cases, split, run with ``tactic`` (``run``: the other keywords of ``run_dataset``)."""
    if target.startswith("prompts."):
        raise ConfigError(
            f"optimize target {target!r}: a package prompt is optimised on recorded sessions (sessions=..., "
            f"lllm optimize --from-sessions); on a data set name a config text such as "
            f"agent_configs.AGENT.system_prompt"
        )
    items: List[Any] = [case_from(c, i) for i, c in enumerate(dataset)]
    train, held = split_cases(items, *split)
    _, _, _, base_config = dataset_tactic(tactic, run["config"], run["runtime"], None)
    goal = _config_target(target, base_config, "the config")

    def score(cases: List[Any], variants: List[Variant], eid: str, baseline: Optional[Report]) -> Report:
        return run_dataset(tactic, cases, variants, [m], eval_id=eid, baseline=baseline, **run)

    return _Source("dataset", goal, train, held, ([c.id for c in train], [c.id for c in held]), score)


def _sessions_source(
    sessions: Sequence[Any], target: str, m: Metric, split: tuple[float, int], run: Dict[str, Any]
) -> _Source:
    """Recorded sessions, split, re-run as ``run_sessions`` does (``run``: its keywords)."""
    items = list(sessions)
    if not items:
        raise DatasetError("no recorded session to optimise on: select some (select_sessions, --from-sessions)")
    train, held = split_cases(items, *split)
    recorded = _load_recorded(train[0], run["store"])
    if target.startswith("prompts."):
        goal = _prompt_target(target[len("prompts.") :], recorded, run["tactic"], run["runtime"])
    else:
        from lllm.logging.forks import without_redacted

        goal = _config_target(target, without_redacted(recorded.config), f"session {recorded.session_id}")

    def score(cases: List[Any], variants: List[Variant], eid: str, baseline: Optional[Report]) -> Report:
        return run_sessions(cases, variants, [m], eval_id=eid, **run)  # the recordings are the baseline

    return _Source("sessions", goal, train, held, (_case_ids(train), _case_ids(held)), score)


def _proposer(model: Optional[str], invoker: Any) -> Proposer:
    """The proposer tactic on ``model``: one agent, ``proposer``, told ``PROPOSER_SYSTEM``."""
    from lllm.eval.judge import judge_config

    cfg = judge_config(model, PROPOSER_SYSTEM)
    cfg["agent_configs"][0]["name"] = "proposer"
    return Proposer(cfg, invoker=invoker)


class _Search:
    """The search under way: its result so far, and the best text yet with the report and side that scored it."""

    mean: Optional[float]  # the best text's training mean
    base: Report  # the original on the training split
    report: Report  # the training report of the best text

    def __init__(self, source: _Source, metric: Metric, budget: Budget, eval_id: str) -> None:
        self.source, self.goal, self.m, self.budget, self.eval_id = source, source.goal, metric, budget, eval_id
        self.result = OptimizeResult(
            target=self.goal.name,
            mode=source.mode,
            metric=metric.name,
            original=self.goal.original,
            placeholders=self.goal.keep,
            train_cases=source.ids[0],
            heldout_cases=source.ids[1],
        )
        self.text, self.side, self.seen = self.goal.original, BASELINE, {self.goal.original}

    def run(self, proposer: Proposer, candidates: int, rounds: int) -> OptimizeResult:
        """The original scored, up to ``rounds`` rounds of ``candidates`` proposals, then the held-out check."""
        self._score_original()
        self.result.stopped = f"{rounds} round(s) done"
        for r in range(1, rounds + 1):
            if self._out_of_budget():
                break
            runnable = self._propose(proposer, r, candidates)
            if not runnable:
                continue
            if self._out_of_budget():
                break
            self._score(r, runnable)
        if self.side != BASELINE:
            self._check_heldout()
        return self.result

    def _out_of_budget(self) -> bool:
        why = self.budget.exceeded(self.result.calls, self.result.cost)
        if why:
            self.result.stopped = why
        return bool(why)

    def _score_original(self) -> None:
        base = self.source.score(self.source.train, [], f"{self.eval_id}-r0", None)
        if self.source.mode == "dataset":  # the recordings cost nothing now; a data set's baseline ran
            self.result.calls, self.result.cost = _spent(base, False)
        self.result.original_train_mean = base.summary[BASELINE].metrics[self.m.name].mean
        self.mean, self.base, self.report = self.result.original_train_mean, base, base

    def _propose(self, proposer: Proposer, r: int, n: int) -> List[Candidate]:
        """Round ``r``'s new texts: the rejected ones go on the record, the runnable ones are returned."""
        m, result = self.m, self.result
        task = {
            "current": self.text,
            "score": _num(self.mean),
            "metric": m.name,
            "better": "higher is better" if m.higher_is_better else "lower is better",
            "failures": _failures(self.report, self.side, m),
            "keep": _keep_note(self.goal.keep),
            "n": n,
        }
        session = proposer(task, return_session=True)
        result.calls += sum(
            len(ts) for a in session.agent_sessions.get("proposer", []) for ts in a.invoke_traces.values()
        )
        result.cost += float(session.total_cost.cost)
        texts = [t for t in dict.fromkeys(session.delivery or []) if t not in self.seen][:n]
        self.seen.update(texts)
        proposed = [
            Candidate(name=f"r{r}c{i + 1}", round=r, text=t, rejected=self.goal.check(t)) for i, t in enumerate(texts)
        ]
        result.candidates += [c for c in proposed if c.rejected is not None]
        return [c for c in proposed if c.rejected is None]

    def _score(self, r: int, runnable: List[Candidate]) -> None:
        """Round ``r``'s candidates scored on the training split; the best of them replaces a worse best."""
        self.result.candidates += runnable
        variants = [self.goal.variant(c.name, c.text) for c in runnable]
        rep = self.source.score(self.source.train, variants, f"{self.eval_id}-r{r}", self.base)
        calls, cost = _spent(rep, True)
        self.result.calls, self.result.cost = self.result.calls + calls, self.result.cost + cost
        sign = 1.0 if self.m.higher_is_better else -1.0
        for c in runnable:
            c.train_mean = rep.summary[c.name].metrics[self.m.name].mean
            if c.train_mean is not None and (self.mean is None or sign * (c.train_mean - self.mean) > 0):
                self.text, self.mean, self.report, self.side = c.text, c.train_mean, rep, c.name

    def _check_heldout(self) -> None:
        """The best candidate against the original on the held-out split (outside the budget)."""
        result = self.result
        result.best = next(c for c in result.candidates if c.name == self.side)
        variant = self.goal.variant(self.side, self.text)
        result.heldout = self.source.score(self.source.held, [variant], f"{self.eval_id}-heldout", None)
        result.heldout_calls, result.heldout_cost = _spent(result.heldout, self.source.mode == "sessions")


def _load_recorded(value: Any, store: Any) -> Any:
    from lllm.eval.reruns import recorded_session, session_case

    return recorded_session(*session_case(value, 0), store)


def _case_ids(values: List[Any]) -> List[str]:
    from lllm.eval.reruns import session_case

    return [session_case(v, i)[0].id for i, v in enumerate(values)]


__all__ = ["Budget", "Candidate", "OptimizeResult", "Proposer", "Proposals", "optimize_prompt", "split_cases"]
