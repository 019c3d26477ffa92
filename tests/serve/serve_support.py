"""Helpers of the `lllm serve` tests: a small package of typed tactics, and a server thread on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/travel_brief"
PLANTED = "sk-planted-0123456789abcdefXYZ"

PACKAGE = {
    "svc/lllm.toml": '[package]\nname = "svc"\n',
    "svc/configs/leaky.yaml": f"invoker_config:\n  api_key: {PLANTED}\n",
    "svc/tactics/typed.py": '''
        import asyncio

        from pydantic import BaseModel, Field

        from lllm import Tactic


        class Query(BaseModel):
            topic: str = Field(description="what to repeat")
            n: int = Field(default=1, ge=1, le=10)


        class Result(BaseModel):
            summary: str
            count: int


        class Echo(Tactic):
            """Repeat a topic n times."""
            name = "echo"

            def call(self, task: Query) -> Result:
                if task.topic == "fail":
                    raise ValueError("the topic 'fail' is refused")
                return Result(summary=task.topic * task.n, count=task.n)


        class Slow(Tactic):
            """Sleep for the given number of seconds."""
            name = "slow"

            async def call(self, task):
                await asyncio.sleep(float(task))
                return f"slept {task}"


        class Leaky(Tactic):
            """Echoes or fails with its configured key."""
            name = "leaky"

            def call(self, task):
                key = self.config["invoker_config"]["api_key"]
                if task == "raise":
                    raise RuntimeError(f"auth failed with key {key}")
                return {"key": key}
    ''',
}


def served(package: Path, store: Any = None, **kw: Any) -> Any:
    """The package's tactics as `lllm serve` builds them, in a fresh runtime."""
    from lllm.serve.cli import served_tactics

    tactics, _ = served_tactics(str(package), store=store, **kw)
    return tactics


class Server:
    """`lllm.serve.app.serve` in a thread with its own event loop, listening on 127.0.0.1:<free port>."""

    def __init__(self, app: Any):
        from lllm.serve.app import serve

        self.app, self.url = app, ""
        ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.stop_event: Optional[asyncio.Event] = None

        def on_ready(url: str) -> None:
            self.url = url
            ready.set()

        async def main() -> None:
            self.stop_event = asyncio.Event()
            await serve(app, "127.0.0.1", 0, on_ready, self.stop_event)

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self.thread.start()
        assert ready.wait(20), "the server did not start"

    def stop(self) -> None:
        if self.thread.is_alive():
            assert self.stop_event is not None
            self.loop.call_soon_threadsafe(self.stop_event.set)
            self.thread.join(30)
        self.loop.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Optional[Dict[str, str]] = None,
        raw: Optional[bytes] = None,
    ) -> Tuple[int, Dict[str, str], str]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> Tuple[int, Any]:
        status, _, text = self.request(method, path, body, **kw)
        return status, json.loads(text)


def wait_job(server: Any, job_id: str) -> Dict[str, Any]:
    """The batch job once it is no longer running (polled through GET /jobs/ID)."""
    for _ in range(1000):
        status, job = server.json("GET", f"/jobs/{job_id}")
        assert status == 200, job
        if job["state"] != "running":
            return job
        time.sleep(0.01)
    raise AssertionError("the job never finished")
