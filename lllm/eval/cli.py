"""``lllm eval``: compare variants on recorded sessions (``--from-sessions``) or on a data set (``--dataset``).

Plugged into the ``lllm`` command by ``lllm.cli``. Prints the summary table; ``--json``/``--html``
write the whole report; ``--fail-under`` (with or without ``--baseline REPORT.json``) exits 1 on a regression."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple


def cmd_eval(args: argparse.Namespace) -> int:
    from lllm.cli import CLIError, offline_model, project_runtime
    from lllm.eval.metrics import resolve_metrics
    from lllm.eval.report import Report, parse_thresholds, regressions
    from lllm.eval.variants import check_variants, parse_variants

    if bool(args.dataset) == bool(args.from_sessions):
        raise CLIError("lllm eval needs one source: TACTIC --dataset FILE.jsonl, or --from-sessions [filters]")
    variants = check_variants(parse_variants(args.variant or []))
    thresholds = parse_thresholds(args.fail_under or [])
    old = Report.load(args.baseline) if args.baseline else None
    if old is not None and not thresholds:
        raise CLIError("--baseline REPORT.json compares against a previous report: add --fail-under METRIC=MAX_DROP")
    judge_model = args.judge_model or args.model or offline_model(None)
    metrics: Optional[List[Any]] = (
        resolve_metrics([_judge(m, judge_model) for m in args.metric]) if args.metric else None
    )  # checked before anything runs
    _check_gate(thresholds, metrics)
    rt = project_runtime()
    run = _eval_sessions if args.from_sessions else _eval_dataset
    report = run(args, rt, variants, metrics)
    _print_report(args, report)
    failed = regressions(report, thresholds, old) if thresholds else []
    for line in failed:
        print(f"Regression: {line}", file=sys.stderr)
    return 1 if failed else 0


def _check_gate(thresholds: Dict[str, float], metrics: Optional[List[Any]]) -> None:
    """Refuse a ``--fail-under`` metric the report will not have before anything runs (its cost included)."""
    from lllm.cli import CLIError
    from lllm.eval.runner import DEFAULT_METRICS

    known = [m.name for m in metrics] if metrics else [*DEFAULT_METRICS, "exact_match"]
    for name in thresholds:
        if name not in known:
            raise CLIError(f"--fail-under {name}: the evaluation has no metric '{name}' (metrics: {sorted(known)})")


def _eval_sessions(args: argparse.Namespace, rt: Any, variants: List[Any], metrics: Optional[List[Any]]) -> Any:
    """``lllm eval --from-sessions``: the selected sessions re-run under each variant."""
    from lllm.eval.runner import evaluate_sessions

    store, cases = _selected(args, rt)
    with _running(len(cases) * len(variants), args.progress_every) as progress:
        return evaluate_sessions(
            cases,
            variants,
            metrics,
            store=store,
            runtime=rt,
            model=args.model,
            invoker=_offline_invoker(args.model),
            live_tools=args.live_tools,
            workers=args.workers,
            eval_id=args.eval_id,
            seed=args.seed,
            resamples=args.resamples,
            progress=progress.update,
        )


def _eval_dataset(args: argparse.Namespace, rt: Any, variants: List[Any], metrics: Optional[List[Any]]) -> Any:
    """``lllm eval TACTIC --dataset FILE``: the tactic run on the data set as the baseline and each variant."""
    from lllm.cli import CLIError, offline_model, tactic_config
    from lllm.eval.datasets import load_dataset
    from lllm.eval.runner import evaluate_dataset
    from lllm.logging.cli import open_store

    if not args.tactic_url:
        raise CLIError("--dataset needs the tactic: lllm eval TACTIC --dataset FILE.jsonl")
    cases = load_dataset(args.dataset)
    node, config = tactic_config(rt, args.tactic_url, args.config, args.model)
    store = None if args.no_save else open_store(args.store, runtime=rt)
    with _running(len(cases) * (len(variants) + 1), args.progress_every) as progress:
        return evaluate_dataset(
            node.qualified_key,
            cases,
            variants,
            metrics,
            config=config,
            runtime=rt,
            model=offline_model(args.model, config, node.value),
            log_store=store,
            workers=args.workers,
            eval_id=args.eval_id,
            seed=args.seed,
            resamples=args.resamples,
            progress=progress.update,
            **_backend(args),
        )


def _print_report(args: argparse.Namespace, report: Any) -> None:
    """The table (and ``--items``) on stdout, or on stderr under ``--json -``; the files asked for."""
    out = sys.stderr if args.json == "-" else sys.stdout  # --json -: stdout holds the JSON report only
    if args.items:
        print(report.items_text(changed_only=args.items == "changed"), file=out)
    print(report.table(), file=out)
    if args.json == "-":
        print(report.to_json())
    elif args.json:
        report.to_json(args.json)
        print(f"Wrote {args.json}", file=sys.stderr)
    if args.html:
        report.to_html(args.html)
        print(f"Wrote {args.html}", file=sys.stderr)
    print(f"eval id {report.eval_id} (run it again with --eval-id to reuse finished runs)", file=sys.stderr)


def cmd_optimize(args: argparse.Namespace) -> int:
    from lllm.cli import CLIError, project_runtime
    from lllm.eval.optimize import Budget

    if bool(args.dataset) == bool(args.from_sessions):
        raise CLIError("lllm optimize needs one source: TACTIC --dataset FILE.jsonl, or --from-sessions [filters]")
    if bool(args.target) == bool(args.prompt):
        raise CLIError("name what to optimise: --target DOTTED.CONFIG.PATH, or --prompt KEY (recorded sessions)")
    target = args.target or f"prompts.{args.prompt}"
    rt = project_runtime()
    common = dict(
        runtime=rt,
        candidates=args.candidates,
        rounds=args.rounds,
        holdout=args.holdout,
        seed=args.seed,
        budget=Budget(max_calls=args.max_calls, max_cost=args.max_cost),
        workers=args.workers,
    )
    run = _optimize_sessions if args.from_sessions else _optimize_dataset
    result = run(args, rt, target, common)
    print(result.table())
    if args.json:
        from pathlib import Path

        Path(args.json).write_text(result._redacted().model_dump_json(indent=1), encoding="utf-8")
        print(f"Wrote {args.json}", file=sys.stderr)
    return 0


def _optimize_sessions(args: argparse.Namespace, rt: Any, target: str, common: Dict[str, Any]) -> Any:
    """``lllm optimize --from-sessions``: the search on the selected sessions' re-runs."""
    from lllm.cli import offline_model
    from lllm.eval.optimize import optimize_prompt

    store, cases = _selected(args, rt)
    proposer_model = args.proposer_model or args.model or offline_model(None)
    with _stdout_to_stderr():
        return optimize_prompt(
            target=target,
            metric=_judge(args.metric, proposer_model),
            sessions=cases,
            store=store,
            model=args.model,
            invoker=_offline_invoker(args.model),
            live_tools=args.live_tools,
            proposer_model=proposer_model,
            **common,
        )


def _optimize_dataset(args: argparse.Namespace, rt: Any, target: str, common: Dict[str, Any]) -> Any:
    """``lllm optimize TACTIC --dataset FILE``: the search on the data set run with the tactic."""
    from lllm.cli import CLIError, offline_model, tactic_config
    from lllm.eval.datasets import load_dataset
    from lllm.eval.optimize import optimize_prompt

    if not args.tactic_url:
        raise CLIError("--dataset needs the tactic: lllm optimize TACTIC --dataset FILE.jsonl")
    if args.prompt:
        raise CLIError(
            "--prompt KEY optimises a package prompt on recorded sessions (--from-sessions); on a data set "
            "name a config text with --target, e.g. agent_configs.AGENT.system_prompt"
        )
    cases = load_dataset(args.dataset)
    node, config = tactic_config(rt, args.tactic_url, args.config, args.model)
    model = offline_model(args.model, config, node.value)
    proposer_model = args.proposer_model or model or offline_model(None)
    with _stdout_to_stderr():
        return optimize_prompt(
            node.qualified_key,
            cases,
            target,
            _judge(args.metric, proposer_model),
            config=config,
            model=model,
            proposer_model=proposer_model,
            **_backend(args),
            **common,
        )


def _selected(args: argparse.Namespace, rt: Any) -> Tuple[Any, List[Any]]:
    """The store and the recorded sessions the selection flags name (as ``lllm sessions list`` selects them),
    for ``--from-sessions``, which takes no TACTIC argument and runs in this process."""
    from lllm.cli import CLIError
    from lllm.eval.datasets import select_sessions
    from lllm.logging.cli import open_store, parse_tags

    if args.tactic_url:
        raise CLIError("with --from-sessions, select the tactic with --tactic NAME (no TACTIC argument)")
    if args.backend == "ray":
        raise CLIError("--backend ray applies to --dataset; re-runs of recorded sessions run in this process")
    store = open_store(args.store, runtime=rt, create=False)
    return store, select_sessions(
        store,
        tactic=args.tactic,
        tags=parse_tags(args.tag),
        batch=args.batch,
        after=args.after,
        before=args.before,
        limit=args.limit,
    )


def _offline_invoker(model: Optional[str]) -> Any:
    """An invoker factory for re-runs: the offline test model for the forked part when no key, model or
    endpoint is given (said once on stderr), else ``None``: the provider the recorded config names."""
    notice: List[str] = []

    def invoker(variant: Any, config: Any) -> Any:
        from lllm.cli import offline_model

        if offline_model(variant.model or model, config) != "test":
            return None
        if not notice:
            notice.append("x")
            print(
                "No provider key is set: the forked part of each re-run uses LLLM's offline test model.",
                file=sys.stderr,
            )
        from lllm.testing import TestInvoker

        return TestInvoker()

    return invoker


def _backend(args: argparse.Namespace) -> Dict[str, Any]:
    if args.backend != "ray":
        if args.address:
            from lllm.cli import CLIError

            raise CLIError("--address names a Ray cluster: add --backend ray")
        return {}
    return {"backend": "ray", "backend_options": {"address": args.address}}


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """While the runs go, whatever prints to stdout (a tactic, Ray's driver on a worker crash) goes to stderr:
    stdout holds the report only."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


@contextlib.contextmanager
def _running(total: int, every_s: float) -> Iterator[Any]:
    """``_stdout_to_stderr`` with a progress line on stderr (a ``BatchProgress`` over ``total`` runs)."""
    from lllm.logging.progress import BatchProgress

    progress = BatchProgress(total, every_s=every_s)
    try:
        with _stdout_to_stderr():
            yield progress
    finally:
        progress.close()


def _judge(ref: str, model: Optional[str]) -> Any:
    """``judge=...``/``rubric=...`` on ``model`` (``--judge-model``, else ``--model``); other refs unchanged."""
    head, eq, arg = ref.partition("=")
    if head == "judge" and eq:
        from lllm.eval.judge import pairwise_judge

        return pairwise_judge(arg, model=model)
    if head == "rubric" and eq:
        from lllm.eval.judge import rubric_judge

        return rubric_judge(arg, model=model)
    return ref


def _source_args(p: argparse.ArgumentParser, what: str) -> None:
    """The two sources (``TACTIC --dataset``, ``--from-sessions`` and its filters) and where they run."""
    from lllm.logging.cli import DEFAULT_STORE

    p.add_argument("tactic_url", nargs="?", metavar="TACTIC", help="with --dataset: the tactic to run")
    p.add_argument("--dataset", metavar="FILE", help='JSONL: a task per line, or {"task": ..., "expected": ...}')
    p.add_argument("--from-sessions", action="store_true", help=f"{what} recorded sessions (select with the filters)")
    p.add_argument(
        "--store", help=f"session store: a .db file (SQLite) or a folder (default: $LLLM_STORE or {DEFAULT_STORE})"
    )
    p.add_argument("--tactic", help="with --from-sessions: only sessions of this tactic")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="only sessions with this tag (repeatable)")
    p.add_argument("--batch", metavar="BATCH_ID", help="only sessions of this batch")
    p.add_argument("--after", help="only sessions at or after this ISO time (UTC if naive)")
    p.add_argument("--before", help="only sessions at or before this ISO time (UTC if naive)")
    p.add_argument("--limit", type=int, help="at most this many sessions (newest first)")
    p.add_argument("--config", help="with --dataset: the baseline config (default: the tactic's own or 'default')")
    p.add_argument("--live-tools", action="store_true", help="run tool calls for real instead of from the recording")
    p.add_argument(
        "--backend",
        choices=["local", "ray"],
        help="with --dataset: where the tasks run (default local; ray: lllm[ray])",
    )
    p.add_argument("--address", help="with --backend ray: auto or ray://HOST:PORT (default: start a local Ray)")
    p.add_argument("--workers", type=int, default=4, help="tasks run at once (default 4)")


def register(sub: Any) -> None:
    """Add ``eval`` and ``optimize`` to the ``lllm`` command."""
    p = sub.add_parser(
        "eval",
        help="A/B-compare variants on recorded sessions or a data set",
        description=(
            "Compare variants (config overrides, prompt texts, a model) with a baseline. --from-sessions: the "
            "baseline is each recorded session and each variant a fork-and-rerun of it (identical model calls and "
            "recorded tool calls answered from the recording). TACTIC --dataset FILE.jsonl: the baseline is the "
            "tactic's config (--backend ray runs the batches on Ray). Prints means, bootstrap confidence intervals "
            "and win/tie/loss per metric on stdout; progress and notes go to stderr."
        ),
    )
    _source_args(p, "re-run")
    p.add_argument(
        "--variant",
        action="append",
        metavar="NAME:KEY=VALUE",
        help="a change of variant NAME (repeatable): a dotted config path, prompts.KEY=TEXT, model=M or config=PROFILE",
    )
    p.add_argument(
        "--metric",
        action="append",
        metavar="METRIC",
        help="exact_match, success, cost, latency, tool_calls, field_match=F, regex=P, json_schema=FILE, "
        "judge=CRITERIA, rubric=RUBRIC or module:function (repeatable; default success, cost, latency "
        "and exact_match when cases have an expected value)",
    )
    p.add_argument("--judge-model", metavar="M", help="model of the judge=/rubric= metrics (default: --model)")
    p.add_argument("--no-save", action="store_true", help="with --dataset: do not record the runs")
    p.add_argument(
        "--model", help="model of every variant (datasets: of the baseline too); offline test model if no key"
    )
    p.add_argument("--eval-id", help="name the evaluation; running the same id again reuses finished runs")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument(
        "--items",
        choices=["all", "changed"],
        help="also print each item's metric values and output diff (changed: only items whose output differs)",
    )
    p.add_argument(
        "--json", metavar="FILE", help="write the whole report as JSON; '-': on stdout (the table goes to stderr)"
    )
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--baseline", metavar="REPORT.json", help="a previous --json report to gate against")
    p.add_argument(
        "--fail-under",
        action="append",
        metavar="METRIC=VALUE",
        help="exit 1 when a side's mean is under VALUE (over, for cost/latency); with --baseline, when it "
        "dropped by more than VALUE from the same side of that report",
    )
    p.add_argument(
        "--progress-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="progress line interval on stderr when it is not a terminal (default 10)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "optimize",
        help="search for a better prompt text on a data set or recorded sessions",
        description=(
            "Improve one prompt text: a config text (--target, a dotted path) or, on recorded sessions, a package "
            "prompt's template (--prompt KEY). A proposer tactic rewrites it from the failures it sees, keeping "
            "its placeholders (a proposal that drops, renames or adds one is rejected unrun); candidates are "
            "scored on a seeded training split of the data set (TACTIC --dataset FILE.jsonl) or of the selected "
            "sessions (--from-sessions, re-run as lllm eval does), and the best is compared with the original on "
            "the held-out split. --max-calls/--max-cost bound the search."
        ),
    )
    _source_args(p, "optimise on")
    p.add_argument("--target", metavar="PATH", help="a config text, e.g. agent_configs.writer.system_prompt")
    p.add_argument(
        "--prompt", metavar="KEY", help="with --from-sessions: a prompt's template, by key (pkg.prompts:ask) or path"
    )
    p.add_argument("--metric", required=True, help="the pointwise metric to improve (see lllm eval --metric)")
    p.add_argument("--model", help="model of the tactic's agents; offline test model if no key")
    p.add_argument("--proposer-model", metavar="M", help="model of the proposer (default: --model)")
    p.add_argument("--candidates", type=int, default=3, help="texts proposed per round (default 3)")
    p.add_argument("--rounds", type=int, default=2, help="proposal rounds (default 2)")
    p.add_argument("--holdout", type=float, default=0.3, help="fraction of cases held out (default 0.3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the bootstrap (default 0)")
    p.add_argument("--max-calls", type=int, metavar="N", help="stop the search after N model calls")
    p.add_argument("--max-cost", type=float, metavar="USD", help="stop the search after this many dollars")
    p.add_argument("--json", metavar="FILE", help="write the result (candidates, best, held-out report) as JSON")
    p.set_defaults(func=cmd_optimize)


__all__ = ["register", "cmd_eval", "cmd_optimize"]
