"""10,000 tactic runs through ``Tactic.ccall`` with 1,000 in flight against the fake server (issue 11).

Each run is the shared bench's simple call (``scenarios/lllm.py``: a one-agent tactic whose async
``call`` opens a dialog and awaits ``agent.arespond()``), or its tool run with ``--tool``. The server
runs at ``--latency-ms`` (100) on the last CPU, this process on the others (as ``run_bench.py`` pins
them). Prints one JSON line: wall, runs/s, CPU per run, peak RSS, requests and peak in flight at the
server. ``--floor`` runs the same load as bare aiohttp requests (a semaphore of the same size);
``--profile cprofile|pyinstrument`` profiles the measured part and writes the summary to ``--profile-out``.

Run: .venv/bin/python benchmarks/bench_ccall.py [--runs 10000 --in-flight 1000] [--profile cprofile]"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

HERE = Path(__file__).resolve().parent


def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: Name of the city, e.g. Paris.
    """
    return f"The weather in {city} is sunny, 21 C."


def stats(base: str, reset: bool = False) -> Dict[str, Any]:
    root = base.rsplit("/v1", 1)[0]
    if reset:
        urllib.request.urlopen(
            urllib.request.Request(root + "/stats/reset", data=b"", method="POST"), timeout=30
        ).read()
    with urllib.request.urlopen(root + "/stats", timeout=30) as r:
        return dict(json.loads(r.read()))


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class GcClock:
    """Time spent in the cyclic garbage collector, per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.start = 0.0
        self.by_gen = [[0, 0.0], [0, 0.0], [0, 0.0]]
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: Dict[str, Any]) -> None:
        if phase == "start":
            self.start = time.perf_counter()
        else:
            d = time.perf_counter() - self.start
            self.t += d
            g = self.by_gen[info["generation"]]
            g[0] += 1
            g[1] += d

    def reset(self) -> None:
        self.t = 0.0
        self.by_gen = [[0, 0.0], [0, 0.0], [0, 0.0]]


def build(base: str, tool: bool) -> Any:
    """The tactic of the shared bench's lllm scenario (its simple call, or its tool run)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_scenario_lllm", HERE / "scenarios" / "lllm.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    state = mod.setup(
        {
            "base_url": base,
            "api_key": "sk-fake-bench",
            "model": "fake-model",
            "tool": get_weather,
            "tool_name": "get_weather",
        }
    )
    return state["tool" if tool else "chat"]


class Meter:
    """Wall, CPU, RSS and GC time of the measured part only (after warm-up)."""

    def __init__(self, base: str, profiler: Any, no_gc: bool, gc_freeze: bool = False) -> None:
        self.base, self.profiler, self.no_gc, self.gc_freeze = base, profiler, no_gc, gc_freeze
        self.gc = GcClock()

    def start(self) -> None:
        gc.collect()
        stats(self.base, reset=True)
        self.rss0 = rss_mib()
        self.gc.reset()
        if self.no_gc:
            gc.disable()
        if self.gc_freeze:  # what an application may do after its setup (a library must not): see README
            gc.freeze()
        if self.profiler is not None:
            self.profiler.start()
        self.c0, self.t0 = cpu_s(), time.perf_counter()

    def stop(self) -> None:
        self.wall, self.cpu = time.perf_counter() - self.t0, cpu_s() - self.c0
        self.gc_s, self.gc_by_gen = self.gc.t, [[n, round(t, 3)] for n, t in self.gc.by_gen]
        if self.profiler is not None:
            self.profiler.stop()
        gc.enable()


async def lllm_runs(tactic: Any, runs: int, in_flight: int, meter: Meter) -> List[Any]:
    await tactic.acall("warm-up: what is the weather in Paris?")
    tasks = [f"request {i}: what is the weather in Paris?" for i in range(runs)]
    out: List[Any] = [None] * runs
    meter.start()
    async for i, r in tactic.ccall(tasks, max_workers=in_flight):
        out[i] = r
    meter.stop()
    return out


FLOOR_SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


async def floor_request(session: Any, base: str, i: int) -> str:
    """The simple call's request as bare aiohttp sends it (the floor): system prompt and task, the answer's text."""
    msg = {"role": "user", "content": f"request {i}: what is the weather in Paris?"}
    body = {"model": "fake-model", "messages": [FLOOR_SYSTEM, msg]}
    async with session.post(f"{base}/chat/completions", json=body) as r:
        return str((await r.json())["choices"][0]["message"]["content"])


def start_server(python: str, latency_ms: float, cpus: set) -> Tuple[subprocess.Popen, str]:
    """The fake server on ``cpus`` (any CPU when empty) and its base URL."""
    server = subprocess.Popen(
        [python, str(HERE / "fake_openai_server.py"), "--port", "0", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().split()[1]


async def floor_runs(base: str, runs: int, in_flight: int, meter: Meter) -> List[Any]:
    import aiohttp

    sem = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as s:

        async def one(i: int) -> str:
            async with sem:
                return await floor_request(s, base, i)

        await one(-1)
        meter.start()
        out = await asyncio.gather(*(one(i) for i in range(runs)))
        meter.stop()
    return list(out)


class _CProfile:
    def __init__(self) -> None:
        import cProfile

        self.p = cProfile.Profile()

    def start(self) -> None:
        self.p.enable()

    def stop(self) -> None:
        self.p.disable()

    def summary(self, top: int) -> str:
        import pstats

        text = io.StringIO()
        for key in ("cumulative", "tottime"):
            text.write(f"## sorted by {key}\n")
            pstats.Stats(self.p, stream=text).strip_dirs().sort_stats(key).print_stats(top)
        return text.getvalue()


class _Pyinstrument:
    def __init__(self) -> None:
        from pyinstrument import Profiler

        self.p = Profiler(async_mode="disabled", interval=0.001)

    def start(self) -> None:
        self.p.start()

    def stop(self) -> None:
        self.p.stop()

    def summary(self, top: int) -> str:
        return str(self.p.output_text(unicode=True, color=False, show_all=False))


def main(argv: Any = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--in-flight", type=int, default=1_000)
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--tool", action="store_true", help="tool runs (3 tool calls, then the answer)")
    p.add_argument("--floor", action="store_true", help="bare aiohttp requests instead of tactic runs")
    p.add_argument("--profile", choices=["cprofile", "pyinstrument"])
    p.add_argument("--profile-out", default="-", help="where the profile summary goes (default stdout)")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--no-gc", action="store_true", help="switch the cyclic garbage collector off while measuring")
    p.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() after the warm-up: the collector skips what setup made"
    )
    p.add_argument("--base-url", help="use a running fake server instead of starting one")
    p.add_argument(
        "--server-python", default=sys.executable, help="interpreter for the fake server (e.g. the bench's server venv)"
    )
    p.add_argument("--no-pin", dest="pin", action="store_false")
    a = p.parse_args(argv)

    ncpu = len(os.sched_getaffinity(0))
    pin = a.pin and ncpu >= 2
    cpus = sorted(os.sched_getaffinity(0))
    server = None
    base = a.base_url
    if base is None:
        server, base = start_server(a.server_python, a.latency_ms, {cpus[-1]} if pin else set())
    if pin:
        os.sched_setaffinity(0, set(cpus[:-1]))
    try:
        warnings.filterwarnings("ignore", message=".*has no log_store.*")
        profiler = None if a.profile is None else (_CProfile() if a.profile == "cprofile" else _Pyinstrument())
        t_setup = time.perf_counter()
        tactic = None if a.floor else build(base, a.tool)
        setup_s = time.perf_counter() - t_setup
        meter = Meter(base, profiler, a.no_gc, a.gc_freeze)

        async def measured() -> List[Any]:
            if tactic is None:
                return await floor_runs(base, a.runs, a.in_flight, meter)
            return await lllm_runs(tactic, a.runs, a.in_flight, meter)

        out = asyncio.run(measured())
        wall, cpu, rss0 = meter.wall, meter.cpu, meter.rss0
        s = stats(base)
        ok = sum(1 for r in out if isinstance(r, str) and r.strip())
        res = {
            "what": "aiohttp floor" if a.floor else ("lllm tool runs" if a.tool else "lllm simple runs"),
            "runs": a.runs,
            "in_flight": a.in_flight,
            "latency_ms": a.latency_ms,
            "ok": ok,
            "wall_s": round(wall, 3),
            "runs_per_s": round(a.runs / wall, 1),
            "ms_per_run": round(wall / a.runs * 1000, 3),
            "cpu_ms_per_run": round(cpu / a.runs * 1000, 3),
            "ideal_wall_s": round(-(-a.runs // a.in_flight) * a.latency_ms / 1000 * (4 if a.tool else 1), 2),
            "rss_before_mib": round(rss0, 1),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "requests": s["chat_requests"],
            "peak_in_flight": s["peak_in_flight"],
            "setup_s": round(setup_s, 3),
            "gc_s": round(meter.gc_s, 3),
            "gc_by_gen": meter.gc_by_gen,
            "profiled": a.profile or "no",
            "gc_freeze": a.gc_freeze,
            "client_cpus": sorted(os.sched_getaffinity(0)),
        }
        print(json.dumps(res))
        if profiler is not None:
            text = profiler.summary(a.top)
            if a.profile_out == "-":
                print(text)
            else:
                Path(a.profile_out).write_text(text)
        return 0 if ok == a.runs else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
