"""Session-store benchmark (issue 4): save throughput and filtered listing at scale, on SQLite.

Targets: small sessions >= 1,000 saves/s to SQLite; ``list_sessions`` with two filters over 100,000
stored sessions <= 100 ms (also checked on PostgreSQL with ``--postgres``). Run from the repository root:

    .venv/bin/python benchmarks/bench_logstore.py [--sessions 100000] [--db PATH] [--postgres DSN]

It fills the store through ``LogStore.save_session`` (the real path), so populating 100,000 sessions
takes about a minute; ``--db`` keeps the file for a rerun (an existing file with enough sessions is reused).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List

from lllm.core.const import Roles
from lllm.core.message import Message
from lllm.core.sessions import AgentCallSession, InvokeTrace, TacticCallSession
from lllm.logging import LogStore, postgres_store, sqlite_store

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAYS = 30
PATHS = [f"bench::tactic_{i}" for i in range(10)]
TEAMS = [f"team_{i}" for i in range(20)]


def small_session(rng: random.Random) -> TacticCallSession:
    """One agent call with one invocation: a typical small session (~2 KB stored)."""
    when = (START + timedelta(seconds=rng.randrange(DAYS * 86400))).timestamp()
    reply = Message(
        role=Roles.ASSISTANT,
        content="The answer is 42.",
        model="gpt-4o-mini",
        usage={"prompt_tokens": 120, "completion_tokens": 8, "cost": 0.00003},
    )
    agent = AgentCallSession(agent_name="solver", model="gpt-4o-mini", started_at=when)
    agent.new_invoke_trace(
        InvokeTrace(
            step=0,
            request={
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "You solve."},
                    {"role": "user", "content": "What is 6 x 7?"},
                ],
            },
            raw_response={"id": "r"},
            message=reply,
            started_at=when,
            latency_s=0.4,
            usage=reply.usage,
        )
    )
    agent.success(reply)
    r = rng.random()
    state = "success" if r < 0.85 else "failure" if r < 0.95 else "running"
    session = TacticCallSession(
        tactic_name="solve",
        tactic_path=rng.choice(PATHS),
        state=state,
        task="What is 6 x 7?",
        started_at=when,
        ended_at=when + 1,
        delivery=reply.content,
    )
    session.record_agent_call("solver", agent)
    return session


def tags_for(rng: random.Random) -> Dict[str, str]:
    return {"team": rng.choice(TEAMS), "env": "prod" if rng.random() < 0.8 else "dev"}


def timed(fn: Callable[[], Any], repeats: int) -> Dict[str, float]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": statistics.median(times), "max_ms": max(times), "rows": len(result)}


def bench_saves(store: LogStore, n: int) -> float:
    rng = random.Random(1)
    sessions = [(small_session(rng), tags_for(rng)) for _ in range(n)]
    t = time.perf_counter()
    for s, tags in sessions:
        store.save_session(s, tags=tags)
    return n / (time.perf_counter() - t)


def populate(store: LogStore, target: int) -> None:
    have = len(store.backend.list_keys(f"{store.partition}/index/"))
    rng = random.Random(2 + have)
    t = time.perf_counter()
    for i in range(have, target):
        store.save_session(small_session(rng), tags=tags_for(rng))
        if (i + 1) % 20000 == 0:
            print(
                f"  populated {i + 1:,} sessions ({(i + 1 - have) / (time.perf_counter() - t):,.0f}/s)", file=sys.stderr
            )


def bench_queries(store: LogStore, repeats: int) -> List[Dict[str, Any]]:
    day = START + timedelta(days=12)
    queries = {
        "tags(team) + tactic_path": dict(tags={"team": "team_3"}, tactic_path="bench::tactic_4"),
        "tactic_path + state": dict(tactic_path="bench::tactic_7", state="failure"),
        "state + after": dict(state="running", after=START + timedelta(days=25)),
        "tags(env) + state": dict(tags={"env": "prod"}, state="failure"),
        "after + before (1 day)": dict(after=day, before=day + timedelta(days=1)),
        "tags(team) + state (rare)": dict(tags={"team": "team_11"}, state="running"),
        "tags(team+env) + tactic_path": dict(tags={"team": "team_5", "env": "dev"}, tactic_path="bench::tactic_1"),
        "tactic_path + state, limit=None": dict(tactic_path="bench::tactic_2", state="failure", limit=None),
    }
    rows = []
    for name, q in queries.items():
        store.list_sessions(**q)  # warm the page cache
        rows.append({"query": name, **timed(lambda q=q: store.list_sessions(**q), repeats)})
    cost = timed(
        lambda: store.export_cost_summary(tags={"team": "team_9"}, tactic_path="bench::tactic_0")["sessions"], repeats
    )
    rows.append({"query": "export_cost_summary(tags + tactic_path)", **cost})
    return rows


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=100_000, help="sessions stored for the query benchmark")
    ap.add_argument("--saves", type=int, default=5_000, help="sessions saved for the throughput figure")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--db", help="SQLite file to fill (kept); default: a temporary file")
    ap.add_argument("--postgres", metavar="DSN", help="also run against this PostgreSQL database")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        targets = [
            (
                "sqlite",
                lambda: sqlite_store(args.db or Path(tmp) / "bench.db", partition="bench"),
                lambda: sqlite_store(Path(tmp) / "saves.db"),
            )
        ]
        if args.postgres:
            targets.append(
                (
                    "postgres",
                    lambda: postgres_store(args.postgres, partition="bench"),
                    lambda: postgres_store(args.postgres, partition="saves"),
                )
            )
        ok = True
        for label, open_big, open_small in targets:
            small = open_small()
            rate = bench_saves(small, args.saves)
            small.close()
            target = " (target >= 1,000)" if label == "sqlite" else ""
            print(f"[{label}] save_session, small sessions: {rate:,.0f} saves/s{target}")
            ok &= rate >= 1000 or label != "sqlite"
            store = open_big()
            populate(store, args.sessions)
            n = len(store.backend.list_keys("bench/index/"))
            print(f"[{label}] list_sessions over {n:,} sessions (median / max of {args.repeats}, target <= 100 ms):")
            for row in bench_queries(store, args.repeats):
                print(
                    f"  {row['query']:<42} {row['median_ms']:8.2f} ms  {row['max_ms']:8.2f} ms  {row['rows']:>6} rows"
                )
                if "limit=None" not in row["query"] and "export" not in row["query"]:
                    ok &= row["median_ms"] <= 100
            store.close()
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
