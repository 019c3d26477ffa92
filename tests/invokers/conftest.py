"""Fixtures for invoker tests: replay provider cassettes over a real local HTTP server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # makes `support` importable
from support.cassette_server import CassetteServer  # noqa: E402


@pytest.fixture
def cassette() -> Callable[..., CassetteServer]:
    """``cassette("openai/test_x.yaml") -> CassetteServer`` (started; stopped after the test)."""
    servers: List[CassetteServer] = []

    def start(name: str, **kw: Any) -> CassetteServer:
        server = CassetteServer.from_cassette(name, **kw).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(autouse=True)
async def _close_http_sessions():
    """Close the pooled HTTP session a test's event loop opened (the sync API's loop keeps its own)."""
    yield
    from lllm.invokers.http import aclose_session

    await aclose_session()


@pytest.fixture
def table_cache_dir(monkeypatch):
    """``table_cache_dir(path_or_off)`` points the price-table cache elsewhere for one test, read afresh."""
    from lllm.invokers import table_cache

    def point(where: str) -> None:
        monkeypatch.setenv("LLLM_CACHE_DIR", where)
        table_cache.reset()

    yield point
    monkeypatch.undo()
    table_cache.reset()
