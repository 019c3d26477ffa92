"""`lllm ui` benchmark (issue 13): list pages over 100,000 sessions and the render of a 1,000-message session.

Targets: one list page <= 200 ms server-side (``SessionLister.page``, what ``GET /api/sessions`` runs) over
100,000 sessions in the SQLite or PostgreSQL store, for every filter and sort (all answered by the store's
index); a session of 1,000 messages rendered by the page in <= 1 s (measured in Debian's Chromium through
Playwright when both are present). Run from the repository root:

    .venv/bin/python benchmarks/bench_ui.py [--sessions 100000] [--db PATH] [--runs 5]
    .venv/bin/python benchmarks/bench_ui.py --postgres [DSN] [--without-search-index]

The store is filled through ``LogStore.save_session`` (about a minute for 100,000 in SQLite, four or five in
PostgreSQL); ``--db`` keeps the file for a rerun (an existing file with enough sessions is reused; an older
store is migrated when opened, and the time that takes is reported). ``--postgres`` uses the DSN given or
``$LLLM_TEST_POSTGRES_DSN`` (``bash .ci/start-postgres.sh`` prints one) and the partition ``ui_bench``, kept
for reruns; ``--without-search-index`` also times the text and model filters with the search index dropped
(it is rebuilt afterwards), for a before/after."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Optional
from urllib.parse import parse_qsl

from multidict import MultiDict

from lllm.core.const import Roles
from lllm.core.message import Message
from lllm.core.sessions import AgentCallSession, InvokeTrace, TacticCallSession
from lllm.logging import LogStore, postgres_store, sqlite_store
from lllm.ui.api import SessionLister, parse_query, session_view

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAYS = 60
TOPICS = ["tides", "Kyoto", "invoices", "sql joins", "bird migration", "tax forms", "espresso", "rust lifetimes"]
MODELS = ["gpt-4o-mini", "claude-3-5-haiku", "test"]
CHROMIUM = "/usr/bin/chromium"


def session(rng: random.Random) -> TacticCallSession:
    """A small session: one agent call, one invocation (~2 KB stored)."""
    when = (START + timedelta(seconds=rng.randrange(DAYS * 86400))).timestamp()
    model = rng.choice(MODELS)
    task = f"Write a note about {rng.choice(TOPICS)} #{rng.randrange(10**6)}"
    reply = Message(
        role=Roles.ASSISTANT,
        content="A short note.",
        model=model,
        usage={"prompt_tokens": 90, "completion_tokens": 12, "cost": round(rng.random() / 500, 6)},
    )
    agent = AgentCallSession(agent_name="writer", model=model, started_at=when)
    agent.new_invoke_trace(
        InvokeTrace(
            step=0,
            model=model,
            messages=[Message(role=Roles.USER, content=task)],
            message=reply,
            started_at=when,
            latency_s=rng.random(),
            usage=reply.usage,
        )
    )
    agent.success(reply)
    state = "success" if rng.random() < 0.9 else "failure"
    s = TacticCallSession(
        tactic_name=f"writer_{rng.randrange(5)}",
        tactic_path=None,
        state=state,
        task=task,
        started_at=when,
        ended_at=when + 1,
        delivery=reply.content,
    )
    s.tactic_path = f"bench::{s.tactic_name}"
    s.record_agent_call("writer", agent)
    return s


def fill(store: LogStore, n: int) -> None:
    have = len(store.list_sessions(limit=n))
    rng = random.Random(have)
    t0 = time.perf_counter()
    for i in range(have, n):
        store.save_session(session(rng), tags={"lllm.batch_id": f"batch_{i % 100}", "team": f"t{i % 7}"})
        if (i + 1) % 10000 == 0:
            print(f"  saved {i + 1:,} sessions ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)


def timed(fn: Callable[[], Any], runs: int) -> Dict[str, Any]:
    t0 = time.perf_counter()
    fn()  # also warms SQLite's page cache
    first = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "first_ms": round(first, 1),
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "rows": len(out["sessions"]) if isinstance(out, dict) and "sessions" in out else None,
    }


def page(lister: SessionLister, query: str) -> Callable[[], Dict[str, Any]]:
    q = parse_query(MultiDict(parse_qsl(query)))
    return lambda: lister.page(q)


def deep_cursor(lister: SessionLister, pages: int) -> str:
    """The cursor after ``pages`` pages of 50: paging deep must cost what the first page costs."""
    q = parse_query(MultiDict(parse_qsl("limit=50")))
    for _ in range(pages):
        q.cursor = lister.page(q)["next"]
    return str(q.cursor)


def long_session() -> TacticCallSession:
    """One agent over a 1,000-message dialog (500 turns), recorded as a real run on a scripted model."""
    from lllm import Tactic
    from lllm.testing import MockInvoker

    class Chat(Tactic, register=False):
        name = "chat"
        agent_group = ["talker"]

        def call(self, task: str) -> str:
            a = self.agents["talker"]
            a.open("main")
            out = ""
            for i in range(500):
                a.receive(f"turn {i}: tell me about `x{i}`\n```python\nprint({i})\n```")
                out = a.respond().content
            return out

    answers = [f"Answer {i} with **some** text and `code`." for i in range(500)]
    config = {"global": {"model_name": "mock"}, "agent_configs": [{"name": "talker", "system_prompt": "Talk."}]}
    return Chat(config, invoker=MockInvoker(answers))("a long chat", return_session=True)


def browser_render(db: Path, session_id: str) -> Optional[float]:
    """``window.lllmRenderMs`` of the session page in Chromium, or ``None`` without Chromium/Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not os.path.exists(CHROMIUM):
        return None
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lllm.cli", "ui", "--store", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" at ")[1].split()[0]
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            pg = b.new_page()
            times = []
            for _ in range(3):
                pg.goto(url + "#/s/" + session_id)
                pg.wait_for_function("window.lllmRenderMs !== undefined")
                times.append(pg.evaluate("window.lllmRenderMs"))
                pg.goto("about:blank")
            b.close()
        return round(statistics.median(times), 1)
    finally:
        proc.terminate()
        proc.wait()


def bench_schema(dsn: str) -> str:
    """``dsn`` confined to the schema ``lllm_ui_bench`` (created if missing; extensions found in public), so
    the test suite's emptying of the default tables never touches the benchmark's 100,000 sessions."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS lllm_ui_bench")
    return make_conninfo(dsn, options="-csearch_path=lllm_ui_bench,public")


TEXT_CASES = ("text in task", "text in task, no match", "text in task, rare", "model")


def without_search_index(store: LogStore, lister: SessionLister, cases: Dict[str, str], runs: int) -> Dict[str, Any]:
    """The text and model filters timed with no PostgreSQL search index: as schema 3 queried them (ILIKE), then
    as the fallback without pg_trgm does (``lower(col) LIKE``); the trigram index is rebuilt afterwards."""
    backend: Any = store.backend
    out: Dict[str, Any] = {}
    with backend._tx() as cur:
        cur.execute("DROP INDEX IF EXISTS lllm_si_task_trgm, lllm_si_models_trgm")
        cur.execute("ANALYZE lllm_session_index")
    try:
        out["no index (ILIKE, as table schema 3)"] = {
            name: timed(page(lister, cases[name]), runs) for name in TEXT_CASES
        }
        backend.search_index = "scan"
        out["fallback without pg_trgm (lower() LIKE)"] = {
            name: timed(page(lister, cases[name]), runs) for name in TEXT_CASES
        }
        return out
    finally:
        with backend._tx() as cur:
            cur.execute("DELETE FROM lllm_meta WHERE name = 'search_index'")
        t0 = time.perf_counter()
        store.close()
        rebuilt = postgres_store(backend.dsn, partition=store.partition)  # reopening builds the index again
        print(f"  search index rebuilt in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rebuilt.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--db", help="SQLite file to fill or reuse (default: a temporary one)")
    ap.add_argument(
        "--postgres",
        nargs="?",
        const=os.environ.get("LLLM_TEST_POSTGRES_DSN", ""),
        metavar="DSN",
        help="measure a PostgreSQL store instead (default DSN: $LLLM_TEST_POSTGRES_DSN)",
    )
    ap.add_argument(
        "--without-search-index", action="store_true", help="PostgreSQL: also time the text filters without it"
    )
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db = Path(args.db or Path(tmp.name) / "ui-bench.db")
    if args.postgres == "":
        ap.error("--postgres needs a DSN, or LLLM_TEST_POSTGRES_DSN set (bash .ci/start-postgres.sh prints one)")
    if args.postgres:
        args.postgres = bench_schema(args.postgres)
    t0 = time.perf_counter()
    store = postgres_store(args.postgres, partition="ui_bench") if args.postgres else sqlite_store(db)
    open_ms = (time.perf_counter() - t0) * 1000
    fill(store, args.sessions)
    if args.postgres:  # fresh statistics, as autovacuum keeps them on a live database
        with store.backend._tx() as cur:  # type: ignore[attr-defined]
            cur.execute("ANALYZE lllm_session_index")
    lister = SessionLister(store)
    deep = max(1, min(40, args.sessions // 50 - 2))
    cursor = deep_cursor(lister, deep)
    cases = {
        "newest, page 1": "limit=50",
        f"newest, page {deep + 1} (keyset cursor)": f"limit=50&cursor={cursor}",
        "status=failure": "state=failure&limit=50",
        "batch id": "batch=batch_42&limit=50",
        "tactic pkg::name + date range": "tactic=bench::writer_3&after=2026-01-20&before=2026-02-10&limit=50",
        "bare tactic name + cost range": "tactic=writer_2&min_cost=0.001&limit=50",
        "text in task": "q=kyoto&limit=50",
        "text in task, no match": "q=no-such-words&limit=50",
        "text in task, rare": "q=%231234&limit=50",  # "#1234": about one session in 10,000
        "model": "model=haiku&limit=50",
        "sort by cost, page 1": "sort=cost&limit=50",
        f"sort by cost, page {deep + 1}": f"sort=cost&limit=50&cursor={deep * 50}",
        "sort by calls": "sort=calls&limit=50",
        "sort by cost + model + status": "sort=cost&model=haiku&state=failure&limit=50",
        "oldest first": "sort=oldest&limit=50",
    }
    results = {name: timed(page(lister, q), args.runs) for name, q in cases.items()}
    report: Dict[str, Any] = {
        "store": "postgresql" if args.postgres else "sqlite",
        "sessions": len(store.list_sessions(limit=None)) if args.sessions <= 200_000 else args.sessions,
        "open_existing_store_ms": round(open_ms, 1),
        "list_pages": results,
    }
    if args.postgres:
        report["search_index"] = getattr(store.backend, "search_index", None)
        if args.without_search_index:
            report["list_pages_without_search_index"] = without_search_index(store, lister, cases, args.runs)
    else:  # the session page does not depend on the store: measured once, on SQLite
        sid = store.save_session(long_session())
        t0 = time.perf_counter()
        view = session_view(store, sid)
        view_ms = (time.perf_counter() - t0) * 1000
        render = browser_render(db, sid)
        report["long_session"] = {
            "messages": sum(len(d["messages"]) for d in view["tree"]["dialogs"]),
            "view_json_ms": round(view_ms, 1),
            "view_json_kb": len(json.dumps(view, default=str)) // 1024,
            "browser_render_ms": render,
        }
    store.close()
    print(json.dumps(report, indent=2))
    worst = max(max(r["first_ms"], r["median_ms"]) for r in results.values())
    print(f"\nslowest page (first or median): {worst:.1f} ms (target <= 200 ms)", file=sys.stderr)
    if "long_session" in report:
        render = report["long_session"]["browser_render_ms"]
        shown = render if render is not None else "not measured (no Chromium)"
        print(f"1,000-message render: {shown} ms (target <= 1000 ms)", file=sys.stderr)


if __name__ == "__main__":
    main()
