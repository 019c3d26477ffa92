"""A real local HTTP server that replays a recorded provider cassette (any provider, any path).

Each request is answered by the next unserved interaction with the same method and path (the
query string is ignored, e.g. Anthropic's ``?beta=true``): recorded status, headers and body. JSON
bodies (``parsed_body``) are sent as JSON; raw bodies (``body.string``, i.e. SSE) are streamed in
small chunks so clients parse them incrementally. Every request received is kept in ``requests``
(parsed JSON in ``["json"]``) for comparison with the recorded request bodies.

The server runs its own event loop in a daemon thread, so sync and async clients can both use it."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Union
from urllib.parse import urlsplit

import yaml
from aiohttp import web

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "provider-cassettes"
_SKIP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}


def load_cassette(name: Union[str, Path]) -> List[Dict[str, Any]]:
    """The interactions of ``name`` (a path, or relative to the fixtures, e.g. ``"openai/x.yaml"``)."""
    path = Path(name)
    if not path.is_absolute():
        path = CASSETTES / path
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)["interactions"]


class CassetteServer:
    """Replays interactions over HTTP on 127.0.0.1 (port chosen by the OS)."""

    def __init__(self, interactions: List[Dict[str, Any]], *, name: str = "cassette", sse_chunk: int = 53):
        self.name = name
        self.interactions = interactions
        self.sse_chunk = sse_chunk
        self.served = [False] * len(interactions)
        self.requests: List[Dict[str, Any]] = []
        self.unmatched: List[str] = []
        self.port = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[web.AppRunner] = None

    @classmethod
    def from_cassette(cls, name: Union[str, Path], **kw: Any) -> "CassetteServer":
        return cls(load_cassette(name), name=str(name), **kw)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; append the recorded base path, e.g. ``server.url + "/v1"``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "CassetteServer":
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: List[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"cassette-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(10) or errors:
            raise RuntimeError(f"cassette server did not start: {errors}")
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = None

    def __enter__(self) -> "CassetteServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------------------
    def recorded_request(self, i: int) -> Dict[str, Any]:
        return self.interactions[i]["request"].get("parsed_body") or {}

    def assert_all_served(self) -> None:
        left = [i for i, s in enumerate(self.served) if not s]
        assert not left and not self.unmatched, f"{self.name}: unserved {left}, unmatched {self.unmatched}"

    def _match(self, method: str, path: str) -> Optional[int]:
        for i, it in enumerate(self.interactions):
            req = it["request"]
            if not self.served[i] and req["method"].upper() == method and urlsplit(req["uri"]).path == path:
                return i
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "json": parsed,
                "raw": raw,
            }
        )
        i = self._match(request.method, request.path)
        if i is None:
            self.unmatched.append(f"{request.method} {request.path}")
            return web.json_response(
                {
                    "error": {
                        "message": f"{self.name}: no unserved recorded interaction for {request.method} {request.path}",
                        "type": "cassette",
                    }
                },
                status=418,
            )
        self.served[i] = True
        resp = self.interactions[i]["response"]
        status = resp["status"]["code"]
        headers = {
            k: v[0]
            for k, v in (resp.get("headers") or {}).items()
            if k.lower() not in _SKIP_HEADERS and isinstance(v, list) and v
        }
        if "parsed_body" in resp:
            headers.setdefault("content-type", "application/json")
            return web.Response(status=status, body=json.dumps(resp["parsed_body"]).encode(), headers=headers)
        body = (resp.get("body") or {}).get("string") or ""
        data = body.encode() if isinstance(body, str) else bytes(body)
        out = web.StreamResponse(status=status, headers=headers)
        await out.prepare(request)
        step = max(1, self.sse_chunk)
        for k in range(0, len(data), step):
            await out.write(data[k : k + step])
        await out.write_eof()
        return out


__all__ = ["CassetteServer", "load_cassette", "CASSETTES"]
