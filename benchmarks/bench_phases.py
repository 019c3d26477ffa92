"""Where LLLM's CPU per simple call goes, back to back and spaced as the shared bench spaces them.

The shared bench's overhead row sends 40 sequential calls to a server with 20 ms latency, so each call
starts on a CPU that has idled for 20 ms; code run right after such a wake-up is several times slower
than the same code run back to back, by a factor that depends on the machine. This script runs the
bench's simple call (``scenarios/lllm.py``) and the same request as bare aiohttp, at 0 ms latency
(back to back) and at ``--latency-ms`` (spaced), and reports process CPU per call for both and the
thread CPU of each of LLLM's synchronous phases. The phases are timed by wrapping the functions named
in ``PHASES``; each wrapper adds about 1.4 us, which LLLM's process CPU includes (about 11 us a call). The
server runs on the last CPU, this process on the others (as ``run_bench.py`` pins them).

Run: .venv/bin/python benchmarks/bench_phases.py [--calls 300] [--latency-ms 20]"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_ccall import build, cpu_s, floor_request, start_server  # noqa: E402

# (module, attribute path, label): the synchronous phases of one simple call, in the order they run
PHASES: List[Tuple[str, str, str]] = [
    ("lllm.core.tactic", "Tactic._enter", "tactic: copy, session, fresh agent"),
    ("lllm.core.agent", "Agent.open", "agent.open: dialog, system message"),
    ("lllm.core.agent", "Agent.receive", "agent.receive: user message"),
    ("lllm.invokers.openai", "OpenAIInvoker.build_request", "invoker: build the request"),
    ("lllm.invokers.openai", "parse_chat", "invoker: parse the reply"),
    ("lllm.invokers.base", "result_from_output", "invoker: price, message, result"),
    ("lllm.core.tactic", "Tactic._leave", "tactic: leave the call's scope"),
    ("lllm.core.tactic", "Tactic._finish", "tactic: close and complete the session"),
]


def _wrap(spent: Counter, module: str, path: str, label: str) -> None:
    owner: Any = importlib.import_module(module)
    *parents, name = path.split(".")
    for p in parents:
        owner = getattr(owner, p)
    fn: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.thread_time_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.thread_time_ns() - t

    setattr(owner, name, timed)


async def _floor(base: str, calls: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        for i in range(5):
            await floor_request(s, base, i)
        c0 = cpu_s()
        for i in range(calls):
            await floor_request(s, base, i)
        return (cpu_s() - c0) / calls


async def _lllm(tactic: Any, calls: int, spent: Counter) -> float:
    for i in range(5):
        await tactic.acall(f"warm-up {i}: hello")
    spent.clear()
    c0 = cpu_s()
    for i in range(calls):
        await tactic.acall(f"request {i}: what is the weather in Paris?")
    return (cpu_s() - c0) / calls


def measure(latency_ms: float, calls: int, server_cpu: set, spent: Counter) -> Dict[str, Any]:
    """CPU per call of bare aiohttp and of LLLM, and LLLM's per-phase thread CPU, at one latency."""
    proc, base = start_server(sys.executable, latency_ms, server_cpu)
    try:
        tactic = build(base, tool=False)
        floor = asyncio.run(_floor(base, calls))
        total = asyncio.run(_lllm(tactic, calls, spent))
        return {"floor": floor, "lllm": total, "phases": {k: spent[k] / 1e9 / calls for _, _, k in PHASES}}
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: Any = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--latency-ms", type=float, default=20.0, help="the spacing of the shared bench's overhead row")
    p.add_argument("--no-pin", dest="pin", action="store_false")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*has no log_store.*")
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = {cpus[-1]} if a.pin and len(cpus) >= 2 else set()
    if server_cpu:
        os.sched_setaffinity(0, set(cpus[:-1]))
    spent: Counter = Counter()
    for module, path, label in PHASES:
        _wrap(spent, module, path, label)
    hot = measure(0.0, a.calls, server_cpu, spent)
    spaced = measure(a.latency_ms, a.calls, server_cpu, spent)
    us = 1e6
    print(f"| CPU per call, us | back to back | {a.latency_ms:g} ms apart | slowdown |")
    print("|---|---|---|---|")
    for key, label in (("floor", "bare aiohttp (process)"), ("lllm", "LLLM (process)")):
        print(f"| {label} | {hot[key] * us:.0f} | {spaced[key] * us:.0f} | {spaced[key] / hot[key]:.1f}x |")
    gap_hot, gap_spaced = hot["lllm"] - hot["floor"], spaced["lllm"] - spaced["floor"]
    print(f"| LLLM minus bare aiohttp | {gap_hot * us:.0f} | {gap_spaced * us:.0f} | {gap_spaced / gap_hot:.1f}x |")
    for _, _, label in PHASES:
        h, s = hot["phases"][label], spaced["phases"][label]
        print(f"| phase: {label} | {h * us:.1f} | {s * us:.1f} | {s / h if h else 0:.1f}x |")
    named_hot, named_spaced = sum(hot["phases"].values()), sum(spaced["phases"].values())
    print(
        f"| phases above, together | {named_hot * us:.0f} | {named_spaced * us:.0f} | {named_spaced / named_hot:.1f}x |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
