"""Why `lllm serve` is on aiohttp: the same typed endpoint on aiohttp (+ pydantic) and on FastAPI (uvicorn).

Each server validates a pydantic body and answers a pydantic model as JSON, in its own process; a client
process sends N requests at concurrency C over keep-alive connections and reports requests/s, p50 and p99
and the server's RSS. FastAPI and uvicorn are not LLLM dependencies: install them to run this
(`pip install -r benchmarks/requirements-fastapi.txt`).

    python benchmarks/bench_http_framework.py [--requests 4000] [--concurrency 1 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time

from pydantic import BaseModel, ValidationError


class Task(BaseModel):
    topic: str
    words: int = 100


class Out(BaseModel):
    title: str
    words: int


def aiohttp_app():
    from aiohttp import web

    async def invoke(request: web.Request) -> web.Response:
        try:
            task = Task.model_validate_json(await request.read())
        except ValidationError as e:
            return web.json_response({"errors": e.errors(include_url=False)}, status=422)
        out = Out(title=task.topic.title(), words=task.words)
        return web.Response(body=out.model_dump_json(), content_type="application/json")

    app = web.Application()
    app.router.add_post("/invoke", invoke)
    return app


def fastapi_app():
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/invoke")
    async def invoke(task: Task) -> Out:
        return Out(title=task.topic.title(), words=task.words)

    return app


def serve(framework: str, port: int) -> None:
    if framework == "aiohttp":
        from aiohttp import web

        web.run_app(aiohttp_app(), host="127.0.0.1", port=port, print=None, access_log=None)
    else:
        import uvicorn

        uvicorn.run(fastapi_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def load(port: int, n: int, concurrency: int) -> dict:
    import aiohttp

    body = json.dumps({"topic": "tides", "words": 120}).encode()
    url, headers = f"http://127.0.0.1:{port}/invoke", {"Content-Type": "application/json"}
    latencies: list = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def one() -> None:
            t = time.perf_counter()
            async with s.post(url, data=body, headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status
            latencies.append(time.perf_counter() - t)

        for _ in range(200):  # warm up connections and the servers' code paths
            await one()
        latencies.clear()
        sem = asyncio.Semaphore(concurrency)

        async def bounded() -> None:
            async with sem:
                await one()

        t0 = time.perf_counter()
        await asyncio.gather(*(bounded() for _ in range(n)))
        wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "rps": round(n / wall),
        "p50_ms": round(latencies[n // 2] * 1e3, 2),
        "p99_ms": round(latencies[int(n * 0.99)] * 1e3, 2),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--serve", nargs=2, metavar=("FRAMEWORK", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve[0], int(args.serve[1]))
    print(
        "| round | framework | concurrency | req/s | p50 ms | p99 ms | server RSS MiB |\n|---|---|---|---|---|---|---|"
    )
    for rnd in range(1, args.rounds + 1):
        for framework in ("aiohttp", "fastapi"):  # interleaved, so machine load hits both alike
            port = _free_port()
            proc = subprocess.Popen([sys.executable, __file__, "--serve", framework, str(port)])
            try:
                for _ in range(100):
                    try:
                        socket.create_connection(("127.0.0.1", port), 0.1).close()
                        break
                    except OSError:
                        time.sleep(0.1)
                for c in args.concurrency:
                    r = asyncio.run(load(port, args.requests, c))
                    rss = _rss_kib(proc.pid) / 1024
                    print(f"| {rnd} | {framework} | {c} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {rss:.0f} |")
            finally:
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    main()
