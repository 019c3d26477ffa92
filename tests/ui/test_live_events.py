"""The live-events stream of `lllm ui` outlives a failing store read: while the store cannot be listed (here an
index entry another tool corrupted) the stream says so and keeps polling, and new sessions arrive once the store
reads again. (It used to stop sending anything without closing: the page showed 'live' and never updated.)"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from lllm.core.aio import timeout_at
from lllm.core.sessions import TacticCallSession
from lllm.logging import sqlite_store
from lllm.ui import create_app


async def _until(resp: Any, marker: bytes) -> bytes:
    data = b""
    async with timeout_at(asyncio.get_running_loop().time() + 10):
        while marker not in data:
            line = await resp.content.readline()
            assert line, f"the stream ended; got {data!r}"
            data += line
    return data


async def test_the_event_stream_survives_a_failing_store_read_and_resumes(tmp_path):
    db = tmp_path / "sessions.db"
    store = sqlite_store(db)
    store.save_session(TacticCallSession(tactic_name="t", state="success", delivery="old", started_at=time.time() - 5))
    client = TestClient(TestServer(create_app(store, poll_s=0.05), host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.get("/api/events")
        await _until(resp, b"event: ready")
        other = sqlite3.connect(db)
        key, good = other.execute("SELECT key, value FROM lllm_kv WHERE key LIKE '%/index/%'").fetchone()
        with other:  # another tool breaks the index entry: every listing now fails to read it
            other.execute("UPDATE lllm_kv SET value = ? WHERE key = ?", (b"{not json", key))
        assert b'event: store-error\ndata: {"error": "JSONDecodeError: ' in await _until(resp, b"JSONDecodeError")
        await _until(resp, b": ping")  # still polling
        with other:  # repaired
            other.execute("UPDATE lllm_kv SET value = ? WHERE key = ?", (good, key))
        other.close()
        sid = store.save_session(TacticCallSession(tactic_name="t", state="success", delivery="new"))
        data = await _until(resp, sid.encode())
        assert b"event: session" in data
        resp.close()
    finally:
        await client.close()
        store.close()
