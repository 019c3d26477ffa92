"""Tactic runs on Ray against the fake server (issue 15): tasks/s through ``ccall(backend="ray")`` on 1 and 2
worker processes (actors) next to a local ``ccall`` with the same tasks in flight, the overhead per task,
the request rate the provider saw with the shared limiter on, and the limiter actor's own calls/s.

The server runs at ``--latency-ms`` (100). Ray's start-up (a local instance) is timed apart from the batches.
Prints one JSON line per measurement (and the machine's load average before and after).

Run: .venv/bin/python benchmarks/bench_ray.py [--tasks 10000 --in-flight 64 --actors 1 2 --rate 200]"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
from lllm import Tactic  # noqa: E402


class Ask(Tactic, register=False):
    name = "bench_ray_ask"
    agent_group = ["a"]

    def call(self, task: str) -> str:
        a = self.agents["a"]
        a.open("main")
        a.receive(task)
        return a.respond().content


def get(root: str, path: str) -> Any:
    with urllib.request.urlopen(root + path, timeout=10) as r:
        return json.loads(r.read())


def reset(root: str) -> None:
    urllib.request.urlopen(urllib.request.Request(root + "/stats/reset", method="POST"), timeout=5).read()


def emit(row: Dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


def timed_ccall(tactic: Any, tasks: List[str], in_flight: int, **opts: Any) -> Tuple[float, float]:
    """Wall seconds and this process's CPU seconds for a ``ccall`` over ``tasks``, every result checked."""

    async def run() -> int:
        n = 0
        async for _, r in tactic.ccall(tasks, max_workers=in_flight, **opts):
            assert isinstance(r, str), r
            n += 1
        return n

    t, cpu = time.perf_counter(), time.process_time()
    assert asyncio.run(run()) == len(tasks)
    return time.perf_counter() - t, time.process_time() - cpu


def limiter_calls_per_s(n: int) -> float:
    """Acquire calls/s one limiter actor answers (``n`` calls in flight from the driver at once)."""
    import ray

    from lllm.ray.limiter import limiter_actor

    limiter = limiter_actor()
    ray.get(limiter.acquire.remote("warm", 1e9, 1))
    t = time.perf_counter()
    ray.get([limiter.acquire.remote("bench", 1e9, 1) for _ in range(n)])
    return n / (time.perf_counter() - t)


def store_writes_per_s(tactic: Any, dsn: str, n: int) -> float:
    """Sessions/s one process writes to PostgreSQL (a real session of this tactic, saved ``n`` times)."""
    import uuid

    from lllm.logging import postgres_store

    session = tactic.bcall(["a task"], return_sessions=True)[0]
    store = postgres_store(dsn, partition=f"bench-{uuid.uuid4().hex[:8]}")
    t = time.perf_counter()
    for i in range(n):
        store.save_session(session, tags={"lllm.batch_id": "bench", "lllm.batch_index": str(i)})
    return n / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--rate", type=float, default=200.0, help="requests/s cap for the limiter run")
    p.add_argument("--limited-tasks", type=int, default=2000, help="tasks in the limiter run")
    p.add_argument("--postgres-dsn", help="also measure session writes/s to this PostgreSQL (then exits)")
    a = p.parse_args()
    import ray

    from lllm.ray import RateLimit

    emit({"run": "machine", "cpus": os.cpu_count(), "loadavg_1_5_15": os.getloadavg()})
    server = subprocess.Popen(
        [sys.executable, str(HERE / "fake_openai_server.py"), "--port", "0", "--latency-ms", str(a.latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    base = server.stdout.readline().split()[1]  # type: ignore[union-attr]
    root = base.rsplit("/v1", 1)[0]
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-local")
    config = {
        "global": {"model_name": "gpt-4o-mini", "model_args": {"base_url": base}},
        "agent_configs": [{"name": "a", "system_prompt": "Answer."}],
    }
    tasks = [f"task {i}" for i in range(a.tasks)]
    try:
        tactic = Ask(config)
        if a.postgres_dsn:
            emit(
                {
                    "run": "postgres session writes",
                    "sessions_per_s": round(store_writes_per_s(tactic, a.postgres_dsn, 500)),
                }
            )
            return
        local, cpu = timed_ccall(tactic, tasks, a.in_flight)
        emit({"run": "local ccall", "tasks": a.tasks, "in_flight": a.in_flight, "wall_s": round(local, 2),
              "tasks_per_s": round(a.tasks / local, 1), "cpu_ms_per_task": round(cpu * 1000 / a.tasks, 3)})  # fmt: skip
        t = time.perf_counter()
        ray.init(address="local", num_cpus=max(a.actors), include_dashboard=False, log_to_driver=False)
        emit({"run": "ray.init (local)", "wall_s": round(time.perf_counter() - t, 2)})
        for n in a.actors:
            wall, cpu = timed_ccall(tactic, tasks, a.in_flight, backend="ray", backend_options={"actors": n})
            overhead = (wall - local) * 1000 / a.tasks
            emit({"run": "ray ccall", "worker_processes": n, "tasks": a.tasks, "in_flight": a.in_flight,
                  "wall_s": round(wall, 2), "tasks_per_s": round(a.tasks / wall, 1),
                  "overhead_ms_per_task_vs_local": round(overhead, 3),
                  "driver_cpu_ms_per_task": round(cpu * 1000 / a.tasks, 3)})  # fmt: skip
        reset(root)
        n, limited = max(a.actors), tasks[: a.limited_tasks]
        opts = {"actors": n, "rate_limit": RateLimit(a.rate, burst=10)}
        wall, _ = timed_ccall(tactic, limited, a.in_flight, backend="ray", backend_options=opts)
        seen = sorted(get(root, "/arrivals")["chat"])
        span = seen[-1] - seen[0]
        peak = max(bisect.bisect_left(seen, t0 + 1.0) - i for i, t0 in enumerate(seen))  # busiest 1 s window
        emit({"run": "ray ccall, limiter", "worker_processes": n, "cap_per_s": a.rate, "burst": 10,
              "requests": len(seen), "wall_s": round(wall, 2), "rate_seen_per_s": round((len(seen) - 1) / span, 1), "rate_after_burst_per_s": round((len(seen) - 10) / span, 1),
              "busiest_1s_window": peak})  # fmt: skip
        emit({"run": "limiter actor", "acquire_calls_per_s": round(limiter_calls_per_s(5000), 0)})
    finally:
        if ray.is_initialized():
            ray.shutdown()
        server.terminate()
        server.wait(5)
        emit({"run": "machine (end)", "loadavg_1_5_15": os.getloadavg()})


if __name__ == "__main__":
    main()
