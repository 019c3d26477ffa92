"""Tactic runs on Ray against the fake server (issue 15): tasks/s through ``bcall(backend="ray")`` next to a
local ``bcall`` with the same in-flight count, and the request rate the provider saw with the shared limiter.

The server runs at ``--latency-ms`` (100). Ray's start-up (a local instance) is timed apart from the batch.
Prints one JSON line per measurement.

Run: .venv/bin/python benchmarks/bench_ray.py [--tasks 1000 --in-flight 64 --actors 1 2 --rate 50]"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


def stats(root: str, reset: bool = False) -> dict:
    if reset:
        urllib.request.urlopen(urllib.request.Request(root + "/stats/reset", method="POST"), timeout=5).read()
        return {}
    with urllib.request.urlopen(root + "/stats", timeout=5) as r:
        return json.loads(r.read())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--rate", type=float, default=50.0, help="requests/s cap for the limiter run")
    a = p.parse_args()
    import ray

    from lllm.ray import RateLimit

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
        t = time.perf_counter()
        tactic.bcall(tasks, max_workers=a.in_flight)
        wall = time.perf_counter() - t
        row = {"run": "local bcall", "tasks": a.tasks, "wall_s": round(wall, 2)}
        print(json.dumps({**row, "tasks_per_s": round(a.tasks / wall, 1)}))
        t = time.perf_counter()
        ray.init(num_cpus=max(a.actors), include_dashboard=False, log_to_driver=False)  # Ask travels by value
        print(json.dumps({"run": "ray.init (local)", "wall_s": round(time.perf_counter() - t, 2)}))
        for n in a.actors:
            t = time.perf_counter()
            out = tactic.bcall(tasks, max_workers=a.in_flight, backend="ray", backend_options={"actors": n})
            wall = time.perf_counter() - t
            assert all(isinstance(r, str) for r in out)
            row = {"run": "ray bcall", "actors": n, "tasks": a.tasks, "wall_s": round(wall, 2)}
            print(json.dumps({**row, "tasks_per_s": round(a.tasks / wall, 1)}))
        stats(root, reset=True)
        t = time.perf_counter()
        opts = {"actors": max(a.actors), "rate_limit": RateLimit(a.rate)}
        tactic.bcall(tasks[: int(a.rate * 4)], max_workers=a.in_flight, backend="ray", backend_options=opts)
        wall = time.perf_counter() - t
        served = stats(root)["chat_requests"]
        row = {"run": "ray bcall, limiter", "cap_per_s": a.rate, "requests": served, "wall_s": round(wall, 2)}
        print(json.dumps({**row, "rate_seen_per_s": round(served / wall, 1)}))
    finally:
        if ray.is_initialized():
            ray.shutdown()
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
