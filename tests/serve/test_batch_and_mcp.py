"""Batch jobs on the durable batch machinery (resumed after a restart), and the tactics as MCP tools
through the official `mcp` client (streamable HTTP at /mcp, and stdio)."""

from __future__ import annotations

import os
import sys

import pytest
from serve_support import ROOT, served, wait_job

from lllm.serve.app import create_app


def test_a_batch_job_runs_and_is_found_after_a_restart(package_dir, start, store):
    tasks = [{"topic": "a"}, {"topic": "b", "n": 2}, {"topic": "c", "n": 3}]
    s = start(create_app(served(package_dir, store), store=store))
    status, job = s.json("POST", "/tactics/echo/batch", {"tasks": tasks, "batch_id": "nightly-1"})
    assert status == 202 and job["job_id"] == "nightly-1" and job["status_url"] == "/jobs/nightly-1"
    job = wait_job(s, "nightly-1")
    assert job["state"] == "done" and job["total"] == 3
    assert [r["result"] for r in job["results"]] == [
        {"summary": "a", "count": 1},
        {"summary": "bb", "count": 2},
        {"summary": "ccc", "count": 3},
    ]
    ids = [r["session_id"] for r in job["results"]]
    s.stop()

    again = start(create_app(served(package_dir, store), store=store))  # a restart over the same store
    status, found = again.json("GET", "/jobs/nightly-1")
    assert status == 200 and found["state"] == "done" and found["total"] == 3 and found["completed"] == 3
    assert [r["session_id"] for r in found["results"]] == ids
    status, job = again.json("POST", "/tactics/echo/batch", {"tasks": tasks, "batch_id": "nightly-1"})
    job = wait_job(again, "nightly-1")
    assert [r["session_id"] for r in job["results"]] == ids  # done tasks are not run again
    assert len(store.list_sessions(tags={"lllm.batch_id": "nightly-1"}, limit=None)) == 3


def test_batch_input_is_validated_and_unknown_jobs_are_404(package_dir, start, store):
    s = start(create_app(served(package_dir, store), store=store))
    status, body = s.json("POST", "/tactics/echo/batch", {"tasks": [{"topic": "a"}, {"n": 2}]})
    assert status == 422 and body["index"] == 1 and "tasks[1] is not a valid Query" in body["error"]
    assert s.json("POST", "/tactics/echo/batch", {"tasks": []})[0] == 422
    assert s.json("GET", "/jobs/none")[0] == 404
    failing = s.json("POST", "/tactics/echo/batch", {"tasks": [{"topic": "ok"}, {"topic": "fail"}]})[1]
    job = wait_job(s, failing["job_id"])
    assert job["state"] == "done_with_errors"
    assert job["results"][1] == {"index": 1, "error": "ValueError: the topic 'fail' is refused"}


mcp = pytest.importorskip("mcp", reason="the MCP tests need the 'mcp' package")


async def test_mcp_over_streamable_http(package_dir, start):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    tactics = served(package_dir)
    s = start(create_app(tactics))
    async with streamable_http_client(s.url + "/mcp") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert set(tools) == {"echo", "slow", "leaky"}
            echo = next(t for t in tactics if t.name == "echo")
            assert tools["echo"].inputSchema == echo.input_schema() and tools["echo"].description == echo.description
            assert tools["slow"].inputSchema["required"] == ["task"]
            result = await session.call_tool("echo", {"topic": "ab", "n": 2})
            assert not result.isError and result.structuredContent == {"summary": "abab", "count": 2}
            bad = await session.call_tool("echo", {"n": 2})
            assert bad.isError and "topic" in bad.content[0].text
            failed = await session.call_tool("echo", {"topic": "fail"})
            assert failed.isError and "the topic 'fail' is refused" in failed.content[0].text
            slow = await session.call_tool("slow", {"task": 0})
            assert slow.content[0].text == "slept 0"


async def test_mcp_over_http_needs_the_token(package_dir, start):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    s = start(create_app(served(package_dir), token="tok-0123456789"))
    assert s.request("POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})[0] == 401
    import httpx

    async with httpx.AsyncClient(headers={"Authorization": "Bearer tok-0123456789"}) as http:
        async with streamable_http_client(s.url + "/mcp", http_client=http) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                assert len((await session.list_tools()).tools) == 3


async def test_mcp_over_stdio(package_dir, tmp_path):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LLLM_HOME": str(tmp_path / "h")}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "lllm.cli", "serve", str(package_dir), "--mcp-stdio", "--no-save"],
        env=env,
        cwd=str(tmp_path),
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = sorted(t.name for t in (await session.list_tools()).tools)
            assert names == ["echo", "leaky", "slow"]
            result = await session.call_tool("echo", {"topic": "z", "n": 3})
            assert result.structuredContent == {"summary": "zzz", "count": 3}
