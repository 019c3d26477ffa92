"""`lllm serve` load test (issue 14): requests per second, p50/p99 latency, the server's own overhead per
request, and N concurrent streaming requests, against the fake OpenAI-compatible server.

Three processes on this machine: the fake provider (``fake_openai_server.py``), ``lllm serve`` on a small
generated package (``chat``: one agent, typed input and output; ``echo``: typed, no model call) and this
load generator (aiohttp). Run from the repository root:

    .venv/bin/python benchmarks/bench_serve.py [--requests 2000] [--concurrency 32] [--streams 1000]

Overhead = p50 of ``POST /tactics/chat/invoke`` one at a time minus p50 of the same tactic called in
process (``await tactic.acall``) one at a time: what HTTP, validation, scheduling and the JSON answer add."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TACTICS = '''
from pydantic import BaseModel

from lllm import Tactic


class Ask(BaseModel):
    question: str


class Answer(BaseModel):
    text: str


class Chat(Tactic):
    """Answer a question with one model call."""
    name = "chat"
    agent_group = ["assistant"]

    async def call(self, task: Ask) -> Answer:
        agent = self.agents["assistant"]
        agent.open("chat")
        agent.receive(task.question)
        return Answer(text=(await agent.arespond()).content)


class Echo(Tactic):
    """Return the question (no model call): the serving path alone."""
    name = "echo"

    async def call(self, task: Ask) -> Answer:
        return Answer(text=task.question)
'''


def write_package(root: Path, base_url: str) -> Path:
    pkg = root / "bench_pkg"
    (pkg / "tactics").mkdir(parents=True)
    (pkg / "configs").mkdir()
    (pkg / "lllm.toml").write_text('[package]\nname = "bench_pkg"\n')
    (pkg / "tactics/chat.py").write_text(TACTICS)
    (pkg / "configs/chat.yaml").write_text(
        json.dumps(
            {
                "global": {
                    "model_name": "openai/fake-model",
                    "model_args": {"api_base": base_url, "api_key": "sk-fake-bench"},
                },
                "agent_configs": [{"name": "assistant", "system_prompt": "You are a helpful assistant."}],
            }
        )
    )
    return pkg


def pct(xs: List[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


async def load(url: str, tactic: str, n: int, concurrency: int) -> Dict[str, Any]:
    """``n`` invoke requests, ``concurrency`` at a time: requests/s and latency percentiles."""
    times: List[float] = []
    errors = 0
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(i: int) -> None:
            nonlocal errors
            async with gate:
                t0 = time.perf_counter()
                async with http.post(f"{url}/tactics/{tactic}/invoke", json={"question": f"q{i}"}) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                times.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
    return {
        "requests": n,
        "concurrency": concurrency,
        "errors": errors,
        "rps": round(n / wall, 1),
        "p50_ms": round(pct(times, 0.5), 2),
        "p99_ms": round(pct(times, 0.99), 2),
    }


async def streams(url: str, n: int) -> Dict[str, Any]:
    """``n`` streaming requests at once; each must end with a ``result`` event."""
    ok, errors = 0, 0
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=300)
    ) as http:

        async def one(i: int) -> None:
            nonlocal ok, errors
            try:
                async with http.post(f"{url}/tactics/chat/stream", json={"question": f"q{i}"}) as r:
                    text = (await r.read()).decode()
                if r.status == 200 and "\nevent: result\n" in "\n" + text:
                    ok += 1
                else:
                    errors += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
    return {"streams": n, "completed": ok, "errors": errors, "wall_s": round(wall, 2)}


async def overhead(url: str) -> "tuple[float, float]":
    """(count, seconds) of the chat tactic's server time outside the call, from ``/metrics``."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/metrics") as r:
            text = await r.text()
    row = {
        line.split("{")[0]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("lllm_serve_overhead_seconds_") and 'tactic="chat"' in line
    }
    return row.get("lllm_serve_overhead_seconds_count", 0.0), row.get("lllm_serve_overhead_seconds_sum", 0.0)


async def in_process(pkg: Path, n: int) -> Dict[str, Any]:
    """The chat tactic called directly, one at a time: the baseline for the overhead."""
    from lllm.core.tactic import build_tactic
    from lllm.core.tactic_tools import find_tactic_config
    from lllm.packages.discovery import load_package
    from lllm.packages.runtime import Runtime

    rt = Runtime("bench")
    load_package(pkg, runtime=rt)
    tactic = build_tactic(find_tactic_config(rt, "bench_pkg", "chat"), name="bench_pkg.tactics:chat", runtime=rt)
    times = []
    for i in range(n + 20):
        t0 = time.perf_counter()
        await tactic.acall({"question": f"q{i}"})
        if i >= 20:
            times.append(time.perf_counter() - t0)
    return {"p50_ms": round(pct(times, 0.5), 3), "p99_ms": round(pct(times, 0.99), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--serial", type=int, default=300, help="one-at-a-time calls for the overhead measure")
    a = p.parse_args()
    fake = subprocess.Popen(
        [sys.executable, str(HERE / "fake_openai_server.py"), "--port", "0", "--tool-calls", "0", "--no-uvloop"],
        stdout=subprocess.PIPE,
        text=True,
    )
    base = fake.stdout.readline().split()[1]  # type: ignore[union-attr]
    tmp = tempfile.TemporaryDirectory()
    pkg = write_package(Path(tmp.name), base)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lllm.cli",
            "serve",
            str(pkg),
            "--port",
            "0",
            "--no-save",
            "--max-concurrency",
            str(max(a.streams, a.concurrency) + 10),
            "--timeout",
            "300",
        ],
        cwd=tmp.name,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LLLM_HOME": tmp.name},
    )
    try:
        url = server.stdout.readline().split(" at ")[1].split()[0]  # type: ignore[union-attr]
        out: Dict[str, Any] = {}
        asyncio.run(load(url, "chat", 200, 8))  # warm up both servers
        out["in_process_chat_serial"] = asyncio.run(in_process(pkg, a.serial))
        before = asyncio.run(overhead(url))
        out["http_chat_serial"] = asyncio.run(load(url, "chat", a.serial, 1))
        after = asyncio.run(overhead(url))
        out["server_overhead_mean_ms"] = round((after[1] - before[1]) / max(1, after[0] - before[0]) * 1000, 3)
        out["http_echo_serial"] = asyncio.run(load(url, "echo", a.serial, 1))
        out["overhead_p50_ms"] = round(out["http_chat_serial"]["p50_ms"] - out["in_process_chat_serial"]["p50_ms"], 3)
        out["http_chat_load"] = asyncio.run(load(url, "chat", a.requests, a.concurrency))
        out["http_echo_load"] = asyncio.run(load(url, "echo", a.requests, a.concurrency))
        out["streams"] = asyncio.run(streams(url, a.streams))
        print(json.dumps(out, indent=2))
    finally:
        for proc in (server, fake):
            proc.terminate()
            proc.wait(30)
        tmp.cleanup()


if __name__ == "__main__":
    main()
