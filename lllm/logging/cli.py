"""``lllm sessions …``, ``lllm replay`` and ``lllm batch``: the session store from the command line.

Plugged into the ``lllm`` command by ``lllm.cli``. The store is ``--store PATH`` (a ``.db`` file is
SQLite, a folder is a local JSON store, a ``postgresql://`` DSN is PostgreSQL), else ``$LLLM_STORE``, else
``.lllm/sessions.db`` under the current directory — the same default ``lllm run`` saves to."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from lllm.logging.filters import tactic_filter

DEFAULT_STORE = os.path.join(".lllm", "sessions.db")


def store_path(explicit: Optional[str] = None) -> str:
    """``--store``, else ``$LLLM_STORE``, else the default; a leading ``~`` is the home folder (no shell may have
    expanded it)."""
    return os.path.expanduser(explicit or os.environ.get("LLLM_STORE") or DEFAULT_STORE)


def open_store(explicit: Optional[str] = None, runtime: Any = None, create: bool = True) -> Any:
    """The LogStore at ``--store`` / ``$LLLM_STORE`` / the default path: a PostgreSQL DSN, an SQLite database (a
    .db, .sqlite or .sqlite3 name, or an existing SQLite file whatever its name) or a folder."""
    from lllm.logging import local_store, postgres_store, sqlite_store
    from lllm.logging.backends import SQLITE_SUFFIXES, is_sqlite_file

    path = store_path(explicit)
    if path.startswith(("postgres://", "postgresql://")):  # never a folder: it would be named after the password
        return postgres_store(path, runtime=runtime)
    if not create and not os.path.exists(path):
        from lllm.cli import CLIError

        raise CLIError(f"No session store at '{path}': run a tactic with `lllm run` first, or pass --store PATH.")
    if path.lower().endswith(SQLITE_SUFFIXES) or path == ":memory:" or is_sqlite_file(Path(path)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return sqlite_store(path, runtime=runtime)
    return local_store(path, runtime=runtime)


# ---------------------------------------------------------------------------------------------
# sessions
# ---------------------------------------------------------------------------------------------


def parse_tags(pairs: Optional[List[str]]) -> Optional[Dict[str, str]]:
    """``--tag K=V`` options as a dict (``None`` when none were given)."""
    if not pairs:
        return None
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key:
            from lllm.cli import CLIError

            raise CLIError(f"--tag takes KEY=VALUE, got {p!r}")
        out[key] = value
    return out


def _filters(args: argparse.Namespace) -> Dict[str, Any]:
    tags = dict(parse_tags(args.tag) or {})
    if getattr(args, "batch", None):
        tags["lllm.batch_id"] = args.batch
    return {"tags": tags or None, "after": args.after, "before": args.before, **tactic_filter(args.tactic)}


def _table(rows: List[List[Any]], header: List[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r: List[Any]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def cmd_list(args: argparse.Namespace) -> int:
    store = open_store(args.store, create=False)
    rows = store.list_sessions(
        **_filters(args), state=args.state, limit=args.limit, model=args.model, text=args.text, sort=args.sort
    )
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return 0
    if not rows:
        print("No sessions found.")
        return 0
    print(
        _table(
            [
                [
                    r.session_id,
                    r.tactic_path or r.tactic_name,
                    r.state,
                    f"${r.total_cost:.6f}",
                    r.agent_call_count,
                    r.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
                    ",".join(f"{k}={v}" for k, v in sorted(r.tags.items()) if not k.startswith("lllm.")),
                ]
                for r in rows
            ],
            ["SESSION", "TACTIC", "STATE", "COST", "CALLS", "TIME (UTC)", "TAGS"],
        )
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = open_store(args.store, create=False)
    session = store.load_session(args.session_id)
    if args.json:
        print(store.export_session(args.session_id))
        return 0
    print(
        f"{session.session_id}  {session.tactic_path}  {session.state}  ${session.total_cost.cost:.6f}"
        f"  {_seconds(session.started_at, session.ended_at)}"
    )
    print(f"task: {_clip(repr(session.task), args.full)}")
    if session.error:
        print(f"error: {session.error}")
    _show_session(session, "  ", args.full)
    delivery = session.delivery
    text = json.dumps(delivery, default=str) if not isinstance(delivery, str) else delivery
    print("delivery:", _clip(text, args.full))
    return 0


def _clip(text: str, full: bool, limit: int = 200) -> str:
    return text if full or len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars; --full]"


def _seconds(start: Optional[float], end: Optional[float]) -> str:
    return f"{end - start:.2f}s" if start and end else "-"


def _show_session(session: Any, indent: str, full: bool) -> None:
    """Agents (each call with its latency), dialogs by alias, then sub-tactic sessions, nested."""
    for name, calls in session.agent_sessions.items():
        for i, a in enumerate(calls):
            traces = [t for ts in a.invoke_traces.values() for t in ts]
            latency = ", ".join(f"{t.latency_s * 1000:.0f} ms" for t in traces)
            print(
                f"{indent}agent {name} #{i + 1}: {a.state}, {a.invoke_count} invocation(s) [{latency}], "
                f"{sum(len(v) for v in a.interrupts.values())} tool call(s), ${a.cost.cost:.6f}, "
                f"{_seconds(a.started_at, a.ended_at)}"
            )
    for name, dialogs in session.dialogs.items():
        for d in dialogs:
            label = f"{name}/{d['alias']}" if d.get("alias") else name
            print(f"{indent}dialog {label} ({len(d.get('messages', []))} messages):")
            for m in d.get("messages", []):
                text = m["content"] if isinstance(m["content"], str) else "[parts]"
                calls = ", ".join(c["name"] for c in m.get("function_calls", []))
                print(f"{indent}  {m['role']:>9}: {_clip((text or calls).strip(), full, 100)}")
    for tool, subs in session.sub_tactic_sessions.items():
        for j, sub in enumerate(subs):
            print(
                f"{indent}sub-tactic {tool} #{j + 1}: {sub.tactic_path or sub.tactic_name}, {sub.state}, "
                f"${sub.total_cost.cost:.6f}, {_seconds(sub.started_at, sub.ended_at)}"
            )
            _show_session(sub, indent + "  ", full)


def cmd_export(args: argparse.Namespace) -> int:
    text = open_store(args.store, create=False).export_session(args.session_id)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")  # JSON is UTF-8, whatever the locale
        print(f"Wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    filters = _filters(args)
    name = filters.pop("tactic_name", None)
    summary = open_store(args.store, create=False).export_cost_summary(**filters)
    if name is not None:
        summary["sessions"] = [s for s in summary["sessions"] if s["tactic_name"] == name]
        summary["session_count"] = len(summary["sessions"])
        summary["total_cost_usd"] = round(sum(s["cost_usd"] for s in summary["sessions"]), 6)
        summary["spent_usd"] = round(sum(s["spent_usd"] for s in summary["sessions"]), 6)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    total, spent = summary["total_cost_usd"], summary["spent_usd"]
    line = f"{summary['session_count']} session(s), total ${total:.6f}"
    if spent != total:  # both rounded to 6 places
        line += f", spent ${spent:.6f} (replays' answers from their recordings were paid for once)"
    print(line)
    by_tactic: Dict[str, List[Tuple[float, float]]] = {}
    for s in summary["sessions"]:
        by_tactic.setdefault(s["tactic_name"], []).append((s["cost_usd"], s["spent_usd"]))
    if by_tactic:
        rows = [
            [t, len(c), f"${sum(x for x, _ in c):.6f}", f"${sum(y for _, y in c):.6f}"]
            for t, c in sorted(by_tactic.items())
        ]
        print(_table(rows, ["TACTIC", "SESSIONS", "COST", "SPENT"]))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    store = open_store(args.store, create=False)
    for sid in args.session_ids:
        store.delete_session(sid)
        print(f"Deleted {sid}")
    return 0


# ---------------------------------------------------------------------------------------------
# replay and batch
# ---------------------------------------------------------------------------------------------


def parse_override(text: str, config: Dict[str, Any]) -> Dict[str, Any]:
    """``a.b.c=value`` as ``{"a.b.c": value}`` for ``rerun(overrides=...)`` (``agent_configs.<name>.key``
    addresses an agent entry by name). Values are read as YAML scalars (``0.2`` is a number, ``true`` a bool); a
    sentence YAML would read otherwise (``Style: terse``, ``Use # headings``) stays the sentence.
    ``config`` is checked now, so a wrong path fails before anything runs."""
    from lllm.cli import CLIError
    from lllm.errors import ConfigError
    from lllm.logging.forks import override_value, set_path

    path, sep, raw = text.partition("=")
    keys = [k for k in path.split(".") if k]
    if not sep or not keys:
        raise CLIError(f"--override takes KEY.PATH=VALUE (e.g. global.model_name=gpt-4o-mini), got {text!r}")
    value = override_value(raw, f"--override {path}")
    try:
        set_path(config, ".".join(keys), value)
    except ConfigError as e:
        raise CLIError(f"--override {e}") from None
    return {".".join(keys): value}


def parse_prompt(text: str) -> Dict[str, str]:
    """``KEY=TEXT`` or ``KEY=@FILE`` as ``{KEY: template}`` for ``rerun(prompts=...)``."""
    from lllm.cli import CLIError

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise CLIError(
            f"--prompt takes KEY=TEXT or KEY=@FILE (e.g. demo.prompts:ask='Ask {{topic}} briefly'), got {text!r}"
        )
    if raw.startswith("@"):
        try:
            raw = Path(raw[1:]).read_text(encoding="utf-8-sig")  # without a byte-order mark
        except OSError as e:
            raise CLIError(f"--prompt {key}=@{raw[1:]}: cannot read the file ({e.strerror or e})") from None
    return {key.strip(): raw}


def cmd_replay(args: argparse.Namespace) -> int:
    from lllm.cli import project_runtime
    from lllm.logging.replay import rerun

    rt = project_runtime()
    store = open_store(args.store, runtime=rt, create=False)
    recorded = store.load_session(args.session_id)
    overrides, prompts = _replay_edits(args, recorded)
    invoker = _replay_invoker(args, recorded, overrides, prompts, rt) if overrides or prompts or args.live else None
    new = rerun(
        recorded,
        runtime=rt,
        overrides=overrides,
        invoker=invoker,
        log_store=store,
        model=args.model,
        tags={"lllm.replay_of": recorded.session_id or ""},
        prompts=prompts or None,
    )
    _print_replay(args, recorded, new)
    return 0


def _replay_edits(args: argparse.Namespace, recorded: Any) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """The ``--override``/``--model`` config overrides and the ``--prompt`` edits, checked against ``recorded``."""
    overrides: Dict[str, Any] = {}
    for o in args.override or []:
        overrides.update(parse_override(o, recorded.config))
    if args.model:
        overrides["global.model_name"] = args.model
    prompts: Dict[str, str] = {}
    for p in args.prompt or []:
        prompts.update(parse_prompt(p))
    return overrides, prompts


def _replay_invoker(
    args: argparse.Namespace, recorded: Any, overrides: Dict[str, Any], prompts: Dict[str, str], rt: Any
) -> Any:
    """The invoker that answers the forked part of the re-run: the edited config's, or the offline test model's."""
    from lllm.cli import CLIError, offline_model
    from lllm.errors import ConfigError
    from lllm.invokers.base import build_invoker
    from lllm.logging.forks import apply_overrides, prompt_edits, recorded_tactic

    try:
        config = apply_overrides(recorded.config, overrides)
        if prompts:
            prompt_edits(recorded, prompts, runtime=rt)
    except ConfigError as e:
        raise CLIError(str(e)) from None
    model = offline_model(args.model, config, recorded_tactic(recorded, None, rt))  # a @tactic's agents may name a URL
    if model != "test":
        return build_invoker(config)
    invoker = build_invoker({"invoker": "test"})
    print("No provider key is set: the forked part of the re-run uses LLLM's offline test model.", file=sys.stderr)
    return invoker


def _print_replay(args: argparse.Namespace, recorded: Any, new: Any) -> None:
    """Where the re-run ``new`` of ``recorded`` diverged and what it delivered (as JSON with ``--json``)."""
    from lllm.core.jsonable import to_json_safe

    at = new.metadata.get("diverged_at")
    same = to_json_safe(new.delivery) == to_json_safe(recorded.delivery)
    if args.json:
        report = {
            "session_id": new.session_id,
            "replay_of": recorded.session_id,
            "replayed_calls": new.metadata.get("replayed_calls"),
            "spent_usd": round(new.spent_cost.cost, 6),
            "diverged_at": at,
            "same_delivery": same,
            "delivery": to_json_safe(new.delivery),
        }
        print(json.dumps(report, indent=2, default=str))
        return
    print(
        f"Re-ran {recorded.session_id} as {new.session_id}: {new.metadata.get('replayed_calls')} call(s) "
        f"answered from the recording, ${new.spent_cost.cost:.6f} spent on the others."
    )
    if at:
        print(f"Diverged at agent '{at['agent']}', call #{at['call_index'] + 1}; from there on the model answered:")
        print(at["diff"])
    else:
        print("Reproduced exactly." if same else "Every request matched, but the delivery differs.")
    print(
        "delivery:",
        new.delivery if isinstance(new.delivery, str) else json.dumps(to_json_safe(new.delivery), default=str),
    )


def _read_tasks(path: str) -> List[Any]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    lines = text.removeprefix("\ufeff").splitlines()  # a byte-order mark (Windows editors) is not part of a task
    tasks = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            tasks.append(json.loads(line) if line[0] in '{["' else line)
        except json.JSONDecodeError:
            tasks.append(line)
    return tasks


def batch_record(index: int, outcome: Any) -> Dict[str, Any]:
    """One line of ``lllm batch`` output: ``{"index", "result"}``, or for a failed task
    ``{"index", "error": {"type", "message", "reason"}}``."""
    if isinstance(outcome, BaseException):
        return {
            "index": index,
            "error": {
                "type": type(outcome).__name__,
                "message": str(outcome),
                "reason": getattr(outcome, "reason", None),
            },
        }
    value = outcome.delivery if hasattr(outcome, "delivery") and hasattr(outcome, "agent_sessions") else outcome
    from lllm.core.jsonable import to_json_safe

    return {"index": index, "result": to_json_safe(value)}


def cmd_batch(args: argparse.Namespace) -> int:
    import asyncio

    from lllm.cli import offline_model, project_runtime, tactic_config
    from lllm.core.tactic import build_tactic, use_model
    from lllm.logging.progress import BatchProgress

    rt = project_runtime()
    node, config = tactic_config(rt, args.tactic, args.config, args.model)
    tasks = _read_tasks(args.tasks)
    store = open_store(args.store, runtime=rt)
    tactic = build_tactic(config, name=node.qualified_key, runtime=rt, log_store=store)
    results: List[Any] = [None] * len(tasks)
    progress = BatchProgress(len(tasks), every_s=args.progress_every)

    async def run() -> None:
        remote = {"backend": args.backend, "backend_options": {"address": args.address}} if args.backend else {}
        async for i, res in tactic.ccall(
            tasks,
            max_workers=args.workers,
            batch_id=args.batch_id,
            return_exceptions=True,
            return_sessions=True,
            **remote,
        ):
            results[i] = res
            cost = res.total_cost.cost if hasattr(res, "total_cost") else 0.0
            progress.update(isinstance(res, BaseException), cost)

    with use_model(offline_model(args.model, config, node.value)):  # tactic tools and sub-tactics run on it too
        try:
            # Ray's driver prints worker crashes on stdout: send them to stderr, stdout holds the records only
            with contextlib.redirect_stdout(sys.stderr) if args.backend == "ray" else contextlib.nullcontext():
                asyncio.run(run())
        finally:
            progress.close()
    for i, res in enumerate(results):
        print(json.dumps(batch_record(i, res), default=str))
    failed = progress.failed
    print(
        f"{len(tasks) - failed}/{len(tasks)} succeeded"
        + (
            f" (batch id {args.batch_id}; run it again to retry only the failed ones)"
            if args.batch_id and failed
            else ""
        ),
        file=sys.stderr,
    )
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        help=f"session store: a .db file (SQLite), a folder or a postgresql:// DSN "
        f"(default: $LLLM_STORE or {DEFAULT_STORE})",
    )


def _filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="only sessions with this tag (repeatable)")
    p.add_argument(
        "--tactic",
        help="only sessions of this tactic: pkg::name, a URL (pkg.tactics:name) or a bare name (any package)",
    )
    p.add_argument("--batch", metavar="BATCH_ID", help="only sessions of this batch (lllm batch --batch-id)")
    p.add_argument("--after", help="only sessions at or after this ISO time (UTC if naive)")
    p.add_argument("--before", help="only sessions at or before this ISO time (UTC if naive)")


def register(sub: Any) -> None:
    """Add ``sessions``, ``replay`` and ``batch`` to the ``lllm`` command."""
    _register_sessions(sub)
    _register_replay(sub)
    _register_batch(sub)


def _register_sessions(sub: Any) -> None:
    sessions = sub.add_parser(
        "sessions",
        help="list, show, export, cost and delete recorded sessions",
        description="Inspect the recorded tactic sessions.",
    )
    ssub = sessions.add_subparsers(dest="sessions_command", metavar="COMMAND", required=True)
    p = ssub.add_parser("list", help="list sessions, newest first", description="List sessions, newest first.")
    _store_arg(p)
    _filter_args(p)
    p.add_argument("--state", choices=["running", "success", "failure"], help="only sessions in this state")
    p.add_argument("--model", help="only sessions where a model's name contains this (any case)")
    p.add_argument("--text", help="only sessions whose task (first 200 characters) contains this (any case)")
    p.add_argument(
        "--sort",
        choices=["newest", "oldest", "cost", "calls"],
        default="newest",
        help="newest (default), oldest, cost or calls (highest first)",
    )
    p.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_list)
    p = ssub.add_parser("show", help="show one session", description="Show one session: agents, dialogs, result.")
    _store_arg(p)
    p.add_argument("session_id")
    p.add_argument("--json", action="store_true", help="print the whole stored session as JSON")
    p.add_argument("--full", action="store_true", help="print messages, task and result whole (not clipped)")
    p.set_defaults(func=cmd_show)
    p = ssub.add_parser("export", help="export one session as JSON", description="Export one session as JSON.")
    _store_arg(p)
    p.add_argument("session_id")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_export)
    p = ssub.add_parser(
        "cost",
        help="cost summary",
        description="Total cost of the matching sessions, and what they spent: a re-run's answers from its "
        "recording keep their price in its cost but were paid for once, by the recorded session.",
    )
    _store_arg(p)
    _filter_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_cost)
    p = ssub.add_parser("delete", help="delete sessions", description="Delete sessions (absent ones are ignored).")
    _store_arg(p)
    p.add_argument("session_ids", nargs="+", metavar="SESSION_ID")
    p.set_defaults(func=cmd_delete)


def _register_replay(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="re-run a recorded session offline, or fork it with overrides",
        description="Re-run a recorded session. Without overrides every model and tool call is "
        "answered from the recording (exact, offline). With --override/--prompt/--model the "
        "calls identical to the recording are replayed and the first differing one "
        "and all after go to the model (the offline test model if no key is set).",
    )
    _store_arg(p)
    p.add_argument("session_id")
    p.add_argument(
        "--override",
        action="append",
        metavar="KEY.PATH=VALUE",
        help="change the recorded config, e.g. agent_configs.writer.system_prompt='Be terse.' (repeatable)",
    )
    p.add_argument(
        "--prompt",
        action="append",
        metavar="KEY=TEXT|KEY=@FILE",
        help="replace a prompt's template for this re-run, by its key (demo.prompts:ask) or short path (ask); "
        "@FILE reads the template from a file (repeatable)",
    )
    p.add_argument("--model", help="run every agent on this model from the first difference on")
    p.add_argument("--live", action="store_true", help="send diverging calls to the model even without overrides")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_replay)


def _register_batch(sub: Any) -> None:
    p = sub.add_parser(
        "batch",
        help="run a tactic over many tasks with a progress bar",
        description="Run a tactic on every line of FILE (text, or JSON for typed tasks). With "
        "--batch-id, a re-run after a crash runs only the tasks that did not succeed.",
    )
    _store_arg(p)
    p.add_argument("tactic", help="tactic URL, e.g. my_pkg.tactics:writer")
    p.add_argument("tasks", help="a file with one task per line, or - for stdin")
    p.add_argument("--batch-id", help="record the batch under this id (resumable)")
    p.add_argument("--workers", type=int, default=4, help="tasks run at once (default 4)")
    p.add_argument("--backend", choices=["local", "ray"], help="where the tasks run (default local; ray: lllm[ray])")
    p.add_argument("--address", help="with --backend ray: auto or ray://HOST:PORT (default: start a local Ray)")
    p.add_argument("--config", help="config name (default: the tactic's own or 'default')")
    p.add_argument("--model", help="model for every agent (default: the config's; offline test model if no key)")
    p.add_argument(
        "--progress-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="when stderr is not a terminal, print a progress line this often (default 10)",
    )
    p.set_defaults(func=cmd_batch)


__all__ = ["register", "open_store", "store_path", "parse_override", "parse_prompt", "parse_tags", "DEFAULT_STORE"]
