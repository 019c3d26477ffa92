"""Batch concurrency: 20 tasks of a sync tactic with 20 workers against the fake server at 200 ms latency.

Workers must mean concurrency: the wall time should be close to one request's latency (about 0.2 s),
not 20 / (cores + 4) of them. The floor is 20 concurrent raw aiohttp requests in the same run.
Run: .venv/bin/python benchmarks/bench_batch.py"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

from lllm import Tactic

HERE = Path(__file__).resolve().parent
TASKS, WORKERS, LATENCY_MS = 20, 20, 200


class Ask(Tactic, register=False):
    name = "ask"
    agent_group = ["a"]

    def call(self, task: str) -> str:
        a = self.agents["a"]
        a.open("main")
        a.receive(task)
        return a.respond().content


async def raw_floor(base: str) -> float:
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as s:

        async def one() -> None:
            async with s.post(f"{base}/chat/completions", json=body) as r:
                await r.read()

        await one()  # warm the connection pool
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(TASKS)))
        return time.perf_counter() - t0


def stats(base: str, reset: bool = False) -> dict:
    root = base.rsplit("/v1", 1)[0]
    if reset:
        urllib.request.urlopen(urllib.request.Request(root + "/stats/reset", method="POST"), timeout=5).read()
        return {}
    with urllib.request.urlopen(root + "/stats", timeout=5) as r:
        return json.loads(r.read())


def main() -> None:
    server = subprocess.Popen(
        [sys.executable, str(HERE / "fake_openai_server.py"), "--port", "0", "--latency-ms", str(LATENCY_MS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = server.stdout.readline().split()[1]
        floor = asyncio.run(raw_floor(base))
        config = {
            "global": {"model_name": "gpt-4o-mini", "model_args": {"base_url": base, "api_key": "sk-bench"}},
            "agent_configs": [{"name": "a", "system_prompt": "Answer."}],
        }
        tactic = Ask(config)
        tactic("warm up")
        tasks = [f"task {i}" for i in range(TASKS)]

        async def through_ccall() -> list:
            return [r async for _, r in tactic.ccall(tasks, max_workers=WORKERS)]

        print(f"raw aiohttp floor: {TASKS} concurrent requests at {LATENCY_MS} ms latency in {floor * 1000:.0f} ms")
        for label, run in (
            ("bcall", lambda: tactic.bcall(tasks, max_workers=WORKERS)),
            ("ccall (lllm batch)", lambda: asyncio.run(through_ccall())),
        ):
            stats(base, reset=True)
            t0 = time.perf_counter()
            out = run()
            wall = time.perf_counter() - t0
            assert len(out) == TASKS
            print(
                f"sync tactic via {label}, {WORKERS} workers: wall {wall * 1000:.0f} ms, peak in flight "
                f"{stats(base)['peak_in_flight']}, {wall / floor:.2f}x the floor (target: peak {WORKERS}, <= 2x)"
            )
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
