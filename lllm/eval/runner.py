"""Running an evaluation: every case under the baseline and each variant, then every metric.

On recorded sessions the baseline is the recording itself and each variant is a fork-and-rerun
(``lllm.logging.replay.rerun``): model calls identical to the recording are answered from it, the
first differing one and all after go to the model; recorded tool calls are answered from the
recording unless ``live_tools``. On a data set every side runs the tactic through ``Tactic.bcall``
(``workers``; with a store, ``eval_id`` makes it resumable: a second run skips finished tasks)."""

from __future__ import annotations

import contextvars
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

from lllm.core.jsonable import to_json_safe
from lllm.errors import ConfigError
from lllm.eval.datasets import Case, DatasetError, case_from
from lllm.eval.metrics import Metric, MetricError, invocation_count, model_latency, resolve_metrics, tool_call_count
from lllm.eval.report import Item, MetricInfo, Outcome, Report
from lllm.eval.reruns import (
    VARIANT_MD5,
    InvokerArg,
    Reruns,
    finished_reruns,
    invoker_for,
    recorded_session,
    rerun_md5,
    same_sides,
    session_case,
)
from lllm.eval.variants import BASELINE, Variant, VariantError, check_variants

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import RuntimeLike, SessionStore
    from lllm.core.tactic import Tactic

MetricRef = Union[str, Metric, Callable[..., Any]]
Progress = Callable[[bool, float], None]
DEFAULT_METRICS = ("success", "cost", "latency")


def new_eval_id() -> str:
    """A fresh evaluation id: ``eval-YYYYmmdd-HHMMSS-xxxxxx``."""
    return time.strftime("eval-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(3)


def _metrics(refs: Optional[Sequence[MetricRef]], cases: Sequence[Case]) -> List[Metric]:
    if refs is None:
        refs = list(DEFAULT_METRICS) + (["exact_match"] if any(c.expected is not None for c in cases) else [])
    return resolve_metrics(refs)


def _score(metrics: List[Metric], case: Case, outcome: Outcome, session: Any, recorded: Any = None) -> None:
    for m in metrics:
        if m.pairwise:
            continue
        try:
            outcome.metrics[m.name] = m(
                task=case.task,
                result=outcome.result,
                expected=case.expected,
                session=session,
                recorded=recorded,
                error=outcome.error,
                case=case,
            )
        except MetricError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken metric stops the evaluation, naming itself and the item
            raise MetricError(f"metric '{m.name}' failed on item {case.id} ({outcome.variant}): {e!r}") from e


def _score_pairwise(metrics: List[Metric], item: Item, case: Case, sessions: Dict[str, Any]) -> None:
    a = item.outcomes[BASELINE]
    for side, b in item.outcomes.items():
        if side == BASELINE:
            continue
        values = item.pairwise.setdefault(side, {})
        for m in metrics:
            if not m.pairwise:
                continue
            try:
                values[m.name] = m(
                    task=case.task,
                    a=a.result,
                    b=b.result,
                    a_error=a.error,
                    b_error=b.error,
                    expected=case.expected,
                    a_session=sessions.get(BASELINE),
                    b_session=sessions.get(side),
                    case=case,
                )
            except MetricError:
                raise
            except Exception as e:  # noqa: BLE001 - see _score
                raise MetricError(f"metric '{m.name}' failed on item {case.id} ({side} vs baseline): {e!r}") from e


def _outcome(variant: str, session: Any, recorded: Any = None, error: Optional[BaseException] = None) -> Outcome:
    if session is None:
        return Outcome(variant=variant, error=f"{type(error).__name__}: {error}" if error else "no session")
    at = session.metadata.get("diverged_at")
    return Outcome(
        variant=variant,
        session_id=session.session_id,
        result=to_json_safe(session.delivery),
        error=session.error if session.state == "failure" else None,
        cost=float(session.total_cost.cost),
        spent=float(session.spent_cost.cost),
        latency_s=model_latency(session, recorded),
        tool_calls=tool_call_count(session),
        model_calls=invocation_count(session) - int(session.metadata.get("replayed_calls") or 0),
        replayed_calls=session.metadata.get("replayed_calls"),
        diverged_at={"agent": at["agent"], "call_index": at["call_index"]} if at else None,
    )


def _report(
    mode: str,
    tactic: Optional[str],
    variants: List[Variant],
    metrics: List[Metric],
    eval_id: str,
    seed: int,
    resamples: int,
) -> Report:
    return Report(
        eval_id=eval_id,
        mode=mode,
        tactic=tactic,
        variants=variants,
        metrics=[
            MetricInfo(name=m.name, higher_is_better=m.higher_is_better, pairwise=m.pairwise, description=m.description)
            for m in metrics
        ],
        seed=seed,
        resamples=resamples,
    )


# ---------------------------------------------------------------------------------------------
# recorded sessions
# ---------------------------------------------------------------------------------------------


def evaluate_sessions(
    sessions: Sequence[Any],
    variants: Sequence[Variant],
    metrics: Optional[Sequence[MetricRef]] = None,
    *,
    store: Optional["SessionStore"] = None,
    tactic: Union[Type["Tactic"], "Tactic", None] = None,
    runtime: Optional["RuntimeLike"] = None,
    model: Optional[str] = None,
    invoker: InvokerArg = None,
    live_tools: bool = False,
    workers: int = 4,
    eval_id: Optional[str] = None,
    seed: int = 0,
    resamples: int = 1000,
    progress: Optional[Progress] = None,
) -> Report:
    """Re-run each recorded session under each variant and score both sides.

    ``sessions``: ``TacticCallSession`` objects, or session ids / ``Case`` objects loaded from ``store``.
    Re-runs are saved to ``store`` (when given) tagged ``lllm.replay_of``, ``lllm.eval_id``,
    ``lllm.eval_variant`` and ``lllm.eval_case``; running the same ``eval_id`` again reuses the finished ones.
    ``invoker`` answers what the recording cannot: an invoker, or a function of the variant (and its config)
    giving one, or ``None`` for the provider the recorded config names (``lllm eval`` passes the offline test
    model when no provider key is set).
    ``model`` puts every variant (not the recording) on that model unless the variant names its own."""
    return run_sessions(
        sessions,
        check_variants(list(variants)),
        metrics,
        store=store,
        tactic=tactic,
        runtime=runtime,
        model=model,
        invoker=invoker,
        live_tools=live_tools,
        workers=workers,
        eval_id=eval_id,
        seed=seed,
        resamples=resamples,
        progress=progress,
    )


def run_sessions(
    sessions: Sequence[Any],
    variants: List[Variant],
    metrics: Optional[Sequence[MetricRef]] = None,
    *,
    store: Optional["SessionStore"] = None,
    tactic: Union[Type["Tactic"], "Tactic", None] = None,
    runtime: Optional["RuntimeLike"] = None,
    model: Optional[str] = None,
    invoker: InvokerArg = None,
    live_tools: bool = False,
    workers: int = 4,
    eval_id: Optional[str] = None,
    seed: int = 0,
    resamples: int = 1000,
    progress: Optional[Progress] = None,
) -> Report:
    """``evaluate_sessions`` without the variant checks: no variant scores the recordings alone."""
    _check_session_run(variants, workers)
    eval_id = eval_id or new_eval_id()
    cases = [session_case(s, i) for i, s in enumerate(sessions)]
    mets = _metrics(metrics, [c for c, _ in cases])
    report = _report("sessions", None, variants, mets, eval_id, seed, resamples)
    md5s = {v.name: rerun_md5(v, model) for v in variants}
    same_sides(store, eval_id, md5s)
    reruns = Reruns(store, tactic, runtime, model, invoker, live_tools, eval_id, finished_reruns(store, eval_id), md5s)
    scoring = _Scoring(mets, progress)

    def one(index: int) -> Item:
        return _session_item(*cases[index], variants, reruns, scoring)

    report.items = _run_all(one, len(cases), workers)
    return report.summarize()


def _check_session_run(variants: List[Variant], workers: int) -> None:
    for v in variants:
        if v.config:
            raise VariantError(
                f"variant '{v.name}': config={v.config} applies to data sets; on recorded sessions change the "
                f"recorded config with dotted overrides (NAME:agent_configs.AGENT.KEY=VALUE)"
            )
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")


class _Scoring:
    """One evaluation's metrics and progress callback: scores each side's outcome as it arrives."""

    def __init__(self, metrics: List[Metric], progress: Optional[Progress]) -> None:
        self.metrics, self.progress = metrics, progress

    def add(
        self,
        item: Item,
        case: Case,
        side: str,
        session: Any,
        kept: Dict[str, Any],
        recorded: Any = None,
        error: Optional[BaseException] = None,
        ran: bool = True,
    ) -> None:
        """Score ``session`` as ``side``'s outcome of ``item`` and keep it in ``kept`` for the pairwise metrics;
        ``ran``: a run the progress callback counts (a recording is none)."""
        out = _outcome(side, session, recorded, error)
        _score(self.metrics, case, out, session, recorded)
        item.outcomes[side] = out
        kept[side] = session
        if ran and self.progress is not None:
            self.progress(out.error is not None, out.cost or 0.0)


def _session_item(case: Case, recorded: Any, variants: List[Variant], reruns: Reruns, scoring: _Scoring) -> Item:
    """One recorded session scored as the baseline, then each variant's re-run of it, then pairwise."""
    recorded = recorded_session(case, recorded, reruns.store)
    case.task = recorded.task
    item = Item(case_id=case.id, task=to_json_safe(recorded.task), recorded_session=recorded.session_id)
    kept: Dict[str, Any] = {}
    scoring.add(item, case, BASELINE, recorded, kept, ran=False)
    for v in variants:
        new, err = reruns.run(recorded, case, v)
        scoring.add(item, case, v.name, new, kept, recorded, err)
    _score_pairwise(scoring.metrics, item, case, kept)
    return item


def _run_all(one: Callable[[int], Item], n: int, workers: int) -> List[Item]:
    """``[one(i) for i in range(n)]``, ``workers`` at a time in daemon threads: a failing item stops the cases
    not started yet (the running ones finish), and Ctrl-C does not wait for a re-run stuck in its thread."""
    if workers == 1 or n <= 1:
        return [one(i) for i in range(n)]
    out: List[Any] = [None] * n
    failed: List[Tuple[int, BaseException]] = []
    todo, lock, ctx, stop = iter(range(n)), threading.Lock(), contextvars.copy_context(), threading.Event()

    def work() -> None:
        while True:
            with lock:
                i = None if failed or stop.is_set() else next(todo, None)
            if i is None:
                return
            try:
                out[i] = ctx.copy().run(one, i)
            except BaseException as e:  # noqa: BLE001 - raised in the caller's thread below
                with lock:
                    failed.append((i, e))

    threads = [threading.Thread(target=work, name="lllm-eval", daemon=True) for _ in range(min(workers, n))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:  # Ctrl-C: no case starts after it; the running ones are left behind
        stop.set()
        raise
    if failed:
        raise min(failed, key=lambda f: f[0])[1]
    return out


# ---------------------------------------------------------------------------------------------
# data sets
# ---------------------------------------------------------------------------------------------


def evaluate_dataset(
    tactic: Union[Type["Tactic"], str],
    dataset: Sequence[Any],
    variants: Sequence[Variant],
    metrics: Optional[Sequence[MetricRef]] = None,
    *,
    config: Optional[Dict[str, Any]] = None,
    runtime: Optional["RuntimeLike"] = None,
    model: Optional[str] = None,
    invoker: InvokerArg = None,
    log_store: Optional["SessionStore"] = None,
    workers: int = 4,
    eval_id: Optional[str] = None,
    seed: int = 0,
    resamples: int = 1000,
    progress: Optional[Progress] = None,
    backend: str = "local",
    backend_options: Optional[Dict[str, Any]] = None,
) -> Report:
    """Run ``tactic`` on every case of ``dataset`` with ``config`` (the baseline) and with each variant
    applied to it, then score. ``tactic``: a Tactic class or a registered name (its config found as
    ``lllm run`` finds it when ``config`` is None). ``dataset``: ``Case`` objects, ``{"task", "expected"}``
    dicts or bare tasks. Each side runs as one ``bcall`` of ``workers``; with ``log_store`` its sessions are
    saved as batch ``<eval_id>:<side>``, so the same ``eval_id`` resumes an interrupted evaluation.
    ``backend="ray"`` runs each side's batch on Ray (``Tactic.bcall``; ``backend_options``: ``address``,
    ``actors``, ``rate_limit``, ``num_cpus``); the workers build the provider from the config, so ``invoker``
    must be ``None`` there. Metrics are computed here, on the sessions the workers send back."""
    return run_dataset(
        tactic,
        dataset,
        check_variants(list(variants)),
        metrics,
        config=config,
        runtime=runtime,
        model=model,
        invoker=invoker,
        log_store=log_store,
        workers=workers,
        eval_id=eval_id,
        seed=seed,
        resamples=resamples,
        progress=progress,
        backend=backend,
        backend_options=backend_options,
    )


def run_dataset(
    tactic: Union[Type["Tactic"], str],
    dataset: Sequence[Any],
    variants: List[Variant],
    metrics: Optional[Sequence[MetricRef]] = None,
    *,
    config: Optional[Dict[str, Any]] = None,
    runtime: Optional["RuntimeLike"] = None,
    model: Optional[str] = None,
    invoker: InvokerArg = None,
    log_store: Optional["SessionStore"] = None,
    workers: int = 4,
    eval_id: Optional[str] = None,
    seed: int = 0,
    resamples: int = 1000,
    progress: Optional[Progress] = None,
    baseline: Optional[Report] = None,
    backend: str = "local",
    backend_options: Optional[Dict[str, Any]] = None,
) -> Report:
    """``evaluate_dataset`` without the variant checks: no variant runs the baseline alone; ``baseline``
    (an earlier report on the same cases) supplies the baseline's outcomes instead of running it again."""
    _check_dataset_run(variants, backend, invoker)
    cases = [case_from(c, i) for i, c in enumerate(dataset)]
    if not cases:
        raise DatasetError("the data set is empty: give at least one task")
    eval_id = eval_id or new_eval_id()
    mets = _metrics(metrics, cases)
    rt, build, label, base_config = dataset_tactic(tactic, config, runtime, log_store)
    report = _report("dataset", label, variants, mets, eval_id, seed, resamples)
    report.items = [Item(case_id=c.id, task=to_json_safe(c.task), expected=to_json_safe(c.expected)) for c in cases]
    sessions: List[Dict[str, Any]] = [{} for _ in cases]
    scoring = _Scoring(mets, progress)
    md5s = {v.name: rerun_md5(v, model) for v in [Variant(name=BASELINE)] + variants}
    same_sides(log_store, eval_id, md5s)
    for v in [Variant(name=BASELINE)] + variants:
        if v.is_baseline and baseline is not None:
            _reuse_baseline(report, baseline)
            continue
        side_config = _side_config(rt, tactic, v, base_config, model)
        t = build(side_config, invoker_for(invoker, v, side_config))
        results = _run_side(
            t, cases, v.model or model, workers, log_store, eval_id, v.name, backend, backend_options, md5s[v.name]
        )
        for i, res in enumerate(results):
            error = res if isinstance(res, BaseException) else None
            session = None if error is not None else res
            scoring.add(report.items[i], cases[i], v.name, session, sessions[i], error=error)
    if any(m.pairwise for m in mets):
        for i, item in enumerate(report.items):
            _score_pairwise(mets, item, cases[i], sessions[i])
    return report.summarize()


def _check_dataset_run(variants: List[Variant], backend: str, invoker: Any) -> None:
    for v in variants:
        if v.prompts:
            raise VariantError(
                f"variant '{v.name}': prompts.* overrides apply to recorded sessions (--from-sessions); on a data "
                f"set change a system prompt with {v.name}:agent_configs.AGENT.system_prompt=TEXT"
            )
    if backend not in ("local", "ray"):
        raise ConfigError(f"backend {backend!r}: use 'local' (threads in this process) or 'ray'")
    if backend != "local" and invoker is not None:
        raise ConfigError(
            f"backend={backend!r} with an invoker: an invoker object does not travel to the workers, which build "
            f"the provider from the config; drop invoker=... (point the config's model_args at the model instead)"
        )


def _reuse_baseline(report: Report, baseline: Report) -> None:
    """Each item's baseline outcome taken from ``baseline``, an earlier report on the same cases."""
    known = {it.case_id: it.outcomes[BASELINE] for it in baseline.items}
    for item in report.items:
        item.outcomes[BASELINE] = known[item.case_id]


def _side_config(rt: Any, tactic: Any, v: Variant, base_config: Dict[str, Any], model: Optional[str]) -> Dict[str, Any]:
    """The config side ``v`` runs with: its profile (or the baseline's), its changes, then its model."""
    side_config = v.apply(_profile(rt, tactic, v) if v.config else base_config)
    side_model = v.model or model
    return with_model(side_config, side_model) if side_model else side_config


def _run_side(
    t: Any,
    cases: List[Case],
    model: Optional[str],
    workers: int,
    store: Any,
    eval_id: str,
    side: str,
    backend: str = "local",
    backend_options: Optional[Dict[str, Any]] = None,
    md5: Optional[str] = None,
) -> List[Any]:
    from lllm.core.tactic import use_model

    tags = {"lllm.eval_id": eval_id, "lllm.eval_variant": side, **({VARIANT_MD5: md5} if md5 else {})}
    remote = {"backend": backend, "backend_options": backend_options} if backend != "local" else {}
    batch_id = f"{eval_id}:{side}" if store is not None else None
    try:
        with use_model(model):
            return list(
                t.bcall(
                    [c.task for c in cases],
                    max_workers=workers,
                    fail_fast=False,
                    tags=tags,
                    return_sessions=True,
                    batch_id=batch_id,
                    **remote,
                )
            )
    except ValueError as e:  # bcall's advice (a new batch_id) names nothing the user passed here
        if batch_id is None or f"batch '{batch_id}' was recorded with a different task" not in str(e):
            raise
        raise DatasetError(
            f"evaluation '{eval_id}' was recorded on other tasks (its '{side}' runs differ from this data set); "
            f"resume it with the same data set, or start a new evaluation with another --eval-id (eval_id=...)"
        ) from None


def dataset_tactic(
    tactic: Any, config: Optional[Dict[str, Any]], runtime: Any, log_store: Any
) -> Tuple[Any, Callable[[Dict[str, Any], Any], Any], str, Dict[str, Any]]:
    """(runtime, build(config, invoker), label, baseline config) for a Tactic class or a registered name."""
    from lllm.core.tactic import Tactic, build_tactic

    if isinstance(tactic, type) and issubclass(tactic, Tactic):
        cls = tactic

        def build_cls(cfg: Dict[str, Any], inv: Any) -> Any:
            return cls(cfg, runtime=runtime, invoker=inv, log_store=log_store)

        if config is None and cls.agent_group:
            raise DatasetError(f"tactic '{cls.name}' has agents: pass config=... (the baseline config)")
        return runtime, build_cls, cls.name, dict(config or {})
    if not isinstance(tactic, str):
        raise DatasetError(f"tactic must be a Tactic class or a registered tactic name, got {type(tactic).__name__}")
    from lllm.core.tactic_tools import find_tactic_config
    from lllm.packages.runtime import get_default_runtime

    rt = runtime or get_default_runtime()
    node = rt.get_node(tactic, "tactic")
    base = config
    if base is None:
        pkg = node.namespace.partition(".")[0] or None
        base = find_tactic_config(
            rt, pkg, node.key, None, bool(getattr(node.value, "agent_group", None)), node.qualified_key
        )

    def build_named(cfg: Dict[str, Any], inv: Any) -> Any:
        kw = {"invoker": inv} if inv is not None else {}
        return build_tactic(cfg, log_store=log_store, name=node.qualified_key, runtime=rt, **kw)

    return rt, build_named, node.qualified_key, dict(base)


def with_model(config: Dict[str, Any], model: str) -> Dict[str, Any]:
    """``config`` with every agent on ``model`` (``global`` and each agent entry that names a model)."""
    import copy

    out = copy.deepcopy(config)
    out["global"] = {**(out.get("global") or {}), "model_name": model}
    entries = list(out.get("agent_configs") or []) + list((out.get("agent_group_configs") or {}).values())
    for entry in entries:
        if isinstance(entry, dict) and "model_name" in entry:
            entry["model_name"] = model
    return out


def _profile(rt: Any, tactic: Any, v: Variant) -> Dict[str, Any]:
    if not isinstance(tactic, str) or rt is None:
        raise VariantError(
            f"variant '{v.name}': config={v.config} needs the tactic by its registered name (a runtime to look "
            f"the profile up in); or pass the profile's overrides"
        )
    from lllm.core.tactic_tools import find_tactic_config

    node = rt.get_node(tactic, "tactic")
    try:
        return find_tactic_config(rt, node.namespace.partition(".")[0] or None, node.key, v.config)
    except (ConfigError, KeyError) as e:
        raise VariantError(f"variant '{v.name}': config profile {v.config!r} not found ({e})") from None


__all__ = [
    "evaluate_sessions",
    "evaluate_dataset",
    "run_dataset",
    "run_sessions",
    "with_model",
    "new_eval_id",
    "dataset_tactic",
    "recorded_session",
    "session_case",
    "DEFAULT_METRICS",
]
