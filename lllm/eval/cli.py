"""``lllm eval``: compare variants on recorded sessions (``--from-sessions``) or on a data set (``--dataset``).

Plugged into the ``lllm`` command by ``lllm.cli``. Prints the summary table; ``--json``/``--html``
write the whole report; ``--fail-under`` (with or without ``--baseline REPORT.json``) exits 1 on a regression."""

from __future__ import annotations

import argparse
import sys
from typing import Any, List, Optional


def cmd_eval(args: argparse.Namespace) -> int:
    from lllm.cli import CLIError, _runtime, offline_model, tactic_config
    from lllm.eval.datasets import load_dataset, select_sessions
    from lllm.eval.metrics import resolve_metrics
    from lllm.eval.report import Report, parse_thresholds, regressions
    from lllm.eval.runner import evaluate_dataset, evaluate_sessions
    from lllm.eval.variants import check_variants, parse_variants
    from lllm.logging.cli import _tags, open_store
    from lllm.logging.progress import BatchProgress

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
    rt = _runtime()
    if args.from_sessions:
        if args.tactic_url:
            raise CLIError("with --from-sessions, select the tactic with --tactic NAME (no TACTIC argument)")
        store = open_store(args.store, runtime=rt, create=False)
        cases = select_sessions(
            store,
            tactic=args.tactic,
            tags=_tags(args.tag),
            batch=args.batch,
            after=args.after,
            before=args.before,
            limit=args.limit,
        )
        progress = BatchProgress(len(cases) * len(variants), every_s=args.progress_every)
        notice: List[str] = []

        def invoker(variant: Any, config: Any) -> Any:
            """The offline test model for the forked part when no key, model or endpoint is given."""
            if offline_model(variant.model or args.model, config) != "test":
                return None  # the provider the recorded config names
            if not notice:
                notice.append("x")
                print(
                    "No provider key is set: the forked part of each re-run uses LLLM's offline test model.",
                    file=sys.stderr,
                )
            from lllm.testing import TestInvoker

            return TestInvoker()

        try:
            report = evaluate_sessions(
                cases,
                variants,
                metrics,
                store=store,
                runtime=rt,
                model=args.model,
                invoker=invoker,
                live_tools=args.live_tools,
                workers=args.workers,
                eval_id=args.eval_id,
                seed=args.seed,
                resamples=args.resamples,
                progress=progress.update,
            )
        finally:
            progress.close()
    else:
        if not args.tactic_url:
            raise CLIError("--dataset needs the tactic: lllm eval TACTIC --dataset FILE.jsonl")
        cases = load_dataset(args.dataset)
        node, config = tactic_config(rt, args.tactic_url, args.config, args.model)
        store = None if args.no_save else open_store(args.store, runtime=rt)
        progress = BatchProgress(len(cases) * (len(variants) + 1), every_s=args.progress_every)
        try:
            report = evaluate_dataset(
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
            )
        finally:
            progress.close()
    if args.items:
        print(report.items_text(changed_only=args.items == "changed"))
    print(report.table())
    if args.json:
        report.to_json(args.json)
        print(f"Wrote {args.json}", file=sys.stderr)
    if args.html:
        report.to_html(args.html)
        print(f"Wrote {args.html}", file=sys.stderr)
    print(f"eval id {report.eval_id} (run it again with --eval-id to reuse finished runs)", file=sys.stderr)
    failed = regressions(report, thresholds, old) if thresholds else []
    for line in failed:
        print(f"Regression: {line}", file=sys.stderr)
    return 1 if failed else 0


def cmd_optimize(args: argparse.Namespace) -> int:
    from lllm.cli import _runtime, offline_model, tactic_config
    from lllm.eval.datasets import load_dataset
    from lllm.eval.optimize import Budget, optimize_prompt

    rt = _runtime()
    cases = load_dataset(args.dataset)
    node, config = tactic_config(rt, args.tactic_url, args.config, args.model)
    model = offline_model(args.model, config, node.value)
    result = optimize_prompt(
        node.qualified_key,
        cases,
        args.target,
        _judge(args.metric, args.proposer_model or model or offline_model(None)),
        config=config,
        runtime=rt,
        model=model,
        proposer_model=args.proposer_model or model or offline_model(None),
        candidates=args.candidates,
        rounds=args.rounds,
        holdout=args.holdout,
        seed=args.seed,
        budget=Budget(max_calls=args.max_calls, max_cost=args.max_cost),
        workers=args.workers,
    )
    print(result.table())
    if args.json:
        from pathlib import Path

        Path(args.json).write_text(result.model_dump_json(indent=1), encoding="utf-8")
        print(f"Wrote {args.json}", file=sys.stderr)
    return 0


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


def register(sub: Any) -> None:
    """Add ``eval`` and ``optimize`` to the ``lllm`` command."""
    from lllm.logging.cli import DEFAULT_STORE

    p = sub.add_parser(
        "eval",
        help="A/B-compare variants on recorded sessions or a data set",
        description=(
            "Compare variants (config overrides, prompt texts, a model) with a baseline. --from-sessions: the "
            "baseline is each recorded session and each variant a fork-and-rerun of it (identical model calls and "
            "recorded tool calls answered from the recording). TACTIC --dataset FILE.jsonl: the baseline is the "
            "tactic's config. Prints means, bootstrap confidence intervals and win/tie/loss per metric."
        ),
    )
    p.add_argument("tactic_url", nargs="?", metavar="TACTIC", help="with --dataset: the tactic to run")
    p.add_argument("--dataset", metavar="FILE", help='JSONL: a task per line, or {"task": ..., "expected": ...}')
    p.add_argument("--from-sessions", action="store_true", help="re-run recorded sessions (select with the filters)")
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
    p.add_argument(
        "--store", help=f"session store: a .db file (SQLite) or a folder (default: $LLLM_STORE or {DEFAULT_STORE})"
    )
    p.add_argument("--no-save", action="store_true", help="with --dataset: do not record the runs")
    p.add_argument("--tactic", help="with --from-sessions: only sessions of this tactic")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="only sessions with this tag (repeatable)")
    p.add_argument("--batch", metavar="BATCH_ID", help="only sessions of this batch")
    p.add_argument("--after", help="only sessions at or after this ISO time (UTC if naive)")
    p.add_argument("--before", help="only sessions at or before this ISO time (UTC if naive)")
    p.add_argument("--limit", type=int, help="at most this many sessions (newest first)")
    p.add_argument("--config", help="with --dataset: the baseline config (default: the tactic's own or 'default')")
    p.add_argument(
        "--model", help="model of every variant (datasets: of the baseline too); offline test model if no key"
    )
    p.add_argument("--live-tools", action="store_true", help="run tool calls for real instead of from the recording")
    p.add_argument("--workers", type=int, default=4, help="items run at once (default 4)")
    p.add_argument("--eval-id", help="name the evaluation; running the same id again reuses finished runs")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument(
        "--items",
        choices=["all", "changed"],
        help="also print each item's metric values and output diff (changed: only items whose output differs)",
    )
    p.add_argument("--json", metavar="FILE", help="write the whole report as JSON")
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
        "--progress-every", type=float, default=10.0, metavar="SECONDS", help="progress line interval off a terminal"
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "optimize",
        help="search for a better prompt text on a data set",
        description=(
            "Improve one prompt text of a tactic's config (--target, a dotted path) on a data set: a proposer "
            "tactic rewrites it from the failures it sees, candidates are scored on a training split, and the "
            "best is compared with the original on a held-out split. --max-calls/--max-cost bound the search."
        ),
    )
    p.add_argument("tactic_url", metavar="TACTIC", help="the tactic to run")
    p.add_argument("--dataset", required=True, metavar="FILE", help="JSONL cases (see lllm eval)")
    p.add_argument("--target", required=True, metavar="PATH", help="e.g. agent_configs.writer.system_prompt")
    p.add_argument("--metric", required=True, help="the pointwise metric to improve (see lllm eval --metric)")
    p.add_argument("--config", help="the baseline config (default: the tactic's own or 'default')")
    p.add_argument("--model", help="model of the tactic's agents; offline test model if no key")
    p.add_argument("--proposer-model", metavar="M", help="model of the proposer (default: --model)")
    p.add_argument("--candidates", type=int, default=3, help="texts proposed per round (default 3)")
    p.add_argument("--rounds", type=int, default=2, help="proposal rounds (default 2)")
    p.add_argument("--holdout", type=float, default=0.3, help="fraction of cases held out (default 0.3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the bootstrap (default 0)")
    p.add_argument("--max-calls", type=int, metavar="N", help="stop the search after N model calls")
    p.add_argument("--max-cost", type=float, metavar="USD", help="stop the search after this many dollars")
    p.add_argument("--workers", type=int, default=4, help="tasks run at once (default 4)")
    p.add_argument("--json", metavar="FILE", help="write the result (candidates, best, held-out report) as JSON")
    p.set_defaults(func=cmd_optimize)


__all__ = ["register", "cmd_eval", "cmd_optimize"]
