"""lllm eval on 1,000 recorded sessions, offline: wall time and memory per session.

Records N sessions of a two-agent tactic (a tool call, a parsed answer, a writer) into a SQLite store
with a scripted MockInvoker, then, in a fresh process per run, evaluates them with one variant (the
writer's system prompt changed) the way `lllm eval --from-sessions` does: each session is loaded,
re-run as a fork (2 of 3 model calls and the tool call answered from the recording, the changed call
answered by the offline test model), the re-run saved to the store, and 4 metrics computed; then the
summary with bootstrap intervals. Memory: the process's peak RSS over its RSS once the store is open.
Run: .venv/bin/python benchmarks/bench_eval.py [--sessions 1000] [--out benchmarks/RESULTS-eval.md]"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List

from lllm import Prompt, Tactic, tool
from lllm.core.parsers import DefaultTagParser

warnings.filterwarnings("ignore", message=".*has no log_store.*")


@tool
def lookup(topic: str) -> str:
    """Look a topic up.

    Args:
        topic: What to look up.
    """
    return f"facts about {topic}"


ASK = Prompt(
    path="bench_eval/ask",
    prompt="Research {topic}",
    function_list=[lookup],
    parser=DefaultTagParser(required_xml_tags=["notes"]),
)
CONFIG = {
    "global": {"model_name": "mock-model"},
    "agent_configs": [
        {"name": "researcher", "system_prompt": "You research."},
        {"name": "writer", "system_prompt": "You write."},
    ],
}


class Brief(Tactic, register=False):
    name = "bench_brief"
    agent_group = ["researcher", "writer"]

    def call(self, task: str) -> str:
        r, w = self.agents["researcher"], self.agents["writer"]
        r.open("main")
        r.receive_prompt(ASK, {"topic": task})
        notes = r.respond().parsed["xml_tags"]["notes"][0]
        w.open("main")
        w.receive(f"Write a brief from: {notes}")
        return w.respond().content


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def record(db: str, n: int) -> float:
    from lllm.logging import sqlite_store
    from lllm.testing import MockInvoker, tool_calls

    store = sqlite_store(db)
    t0 = time.perf_counter()
    for i in range(n):
        topic = f"topic {i}"
        script = [
            tool_calls(("lookup", {"topic": topic}, f"t{i}")),
            f"<notes>{topic} notes</notes>",
            f"A brief about {topic}, long enough to be worth shortening.",
        ]
        Brief(CONFIG, invoker=MockInvoker(script), log_store=store)(topic)
    return time.perf_counter() - t0


def evaluate(db: str, workers: int) -> Dict[str, Any]:
    from lllm.eval import evaluate_sessions, parse_variants, select_sessions
    from lllm.logging import sqlite_store
    from lllm.testing import TestInvoker

    store = sqlite_store(db)
    rss0 = _kib("VmRSS")
    t0 = time.perf_counter()
    cases = select_sessions(store)
    report = evaluate_sessions(
        cases,
        parse_variants(["terse:agent_configs.writer.system_prompt=Be terse."]),
        ["success", "cost", "latency", "tool_calls"],
        store=store,
        tactic=Brief,
        invoker=lambda v: TestInvoker(),
        workers=workers,
    )
    wall = time.perf_counter() - t0
    n = len(report.items)
    assert n == len(cases) and report.summary["terse"].errors == 0
    assert all(it.outcomes["terse"].replayed_calls == 2 for it in report.items)
    return {
        "workers": workers,
        "sessions": n,
        "wall_s": round(wall, 2),
        "ms_per_session": round(wall / n * 1000, 2),
        "peak_rss_mib": round(_kib("VmHWM") / 1024, 1),
        "rss_growth_mib": round((_kib("VmHWM") - rss0) / 1024, 1),
        "kib_per_session": round((_kib("VmHWM") - rss0) / n, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--out", help="write the results as Markdown here")
    p.add_argument("--phase", choices=["record", "eval"], help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.phase == "record":
        print(json.dumps({"record_s": record(a.db, a.sessions)}))
        return
    if a.phase == "eval":
        print(json.dumps(evaluate(a.db, a.workers)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "sessions.db")
        me = [sys.executable, __file__, "--db", db, "--sessions", str(a.sessions)]
        rec = json.loads(subprocess.run([*me, "--phase", "record"], check=True, capture_output=True, text=True).stdout)
        print(f"recorded {a.sessions} sessions in {rec['record_s']:.1f} s")
        rows: List[Dict[str, Any]] = []
        for workers in (1, 4):
            # each run evaluates the recorded sessions afresh: the eval id is new, earlier re-runs are left out
            out = subprocess.run(
                [*me, "--phase", "eval", "--workers", str(workers)], check=True, capture_output=True, text=True
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1])
    if a.out:
        lines = [
            "# bench_eval: `lllm eval` on recorded sessions, offline",
            "",
            f"`benchmarks/bench_eval.py --sessions {a.sessions}` on {os.cpu_count()} CPU(s), Python "
            f"{sys.version.split()[0]}. Each session: 3 model calls and 1 tool call recorded; one variant "
            "(the writer's system prompt) re-runs it as a fork: 2 calls and the tool call answered from the "
            "recording, 1 by the offline test model; the re-run is saved to the same SQLite store; metrics "
            "success, cost, latency, tool_calls; bootstrap summary (1,000 resamples) included in the time.",
            "",
            "| workers | sessions | wall (s) | ms / session | peak RSS (MiB) | RSS growth (MiB) | KiB / session |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['workers']} | {r['sessions']} | {r['wall_s']} | {r['ms_per_session']} | {r['peak_rss_mib']} "
                f"| {r['rss_growth_mib']} | {r['kib_per_session']} |"
            )
        lines += [
            "",
            f"Recording the {a.sessions} sessions took {rec['record_s']:.1f} s (not part of the figures).",
            "",
        ]
        Path(a.out).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
