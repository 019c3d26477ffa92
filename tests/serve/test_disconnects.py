"""Session 7 review: a client that goes away frees its call's slot, and refused bodies are counted as such."""

from __future__ import annotations

import http.client
import json
import time

import pytest
from serve_support import served

from lllm.serve.app import Limits, create_app


def _open(server, path: str, body) -> http.client.HTTPConnection:
    host, port = server.url.split("//")[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    return conn


def _in_flight_becomes(server, n: int) -> bool:
    for _ in range(500):
        if server.json("GET", "/healthz")[1]["in_flight"] == n:
            return True
        time.sleep(0.02)
    return False


def test_a_stream_client_that_disconnects_during_a_silent_call_cancels_it(package_dir, start):
    s = start(create_app(served(package_dir)))  # the default --timeout: 300 s
    conn = _open(s, "/tactics/slow/stream", 60)
    r = conn.getresponse()
    assert r.status == 200 and b"started" in r.fp.readline() + r.fp.readline()
    assert _in_flight_becomes(s, 1)
    r.close()
    conn.close()  # no event comes for a minute: nothing else tells the server the client left
    assert _in_flight_becomes(s, 0), "the abandoned call still holds its slot"
    metrics = s.request("GET", "/metrics")[2]
    assert 'lllm_serve_errors_total{tactic="slow",kind="disconnected"} 1' in metrics


def test_an_invoke_client_that_disconnects_cancels_its_call(package_dir, start):
    s = start(create_app(served(package_dir)))
    conn = _open(s, "/tactics/slow/invoke", 60)
    assert _in_flight_becomes(s, 1)
    conn.close()
    assert _in_flight_becomes(s, 0), "the abandoned call still holds its slot"
    metrics = s.request("GET", "/metrics")[2]
    assert 'lllm_serve_errors_total{tactic="slow",kind="disconnected"} 1' in metrics
    assert 'endpoint="invoke",status="200"' not in metrics


def test_a_body_over_the_limit_is_counted_as_413_not_200(package_dir, start):
    s = start(create_app(served(package_dir), limits=Limits(max_body_bytes=100)))
    status, _, _ = s.request("POST", "/tactics/slow/invoke", raw=json.dumps("x" * 500).encode())
    assert status == 413
    metrics = s.request("GET", "/metrics")[2]
    assert 'lllm_serve_requests_total{tactic="slow",endpoint="invoke",status="413"} 1' in metrics
    assert 'status="200"' not in metrics


def test_the_bearer_scheme_is_case_insensitive(package_dir, start):
    s = start(create_app(served(package_dir), token="tok-0123456789"))
    for scheme in ("Bearer", "bearer", "BEARER"):
        status, _ = s.json("GET", "/tactics", headers={"Authorization": f"{scheme} tok-0123456789"})
        assert status == 200, scheme  # RFC 9110 11.1: the scheme is case-insensitive
    assert s.json("GET", "/tactics", headers={"Authorization": "Basic tok-0123456789"})[0] == 401


def test_an_mcp_client_that_disconnects_cancels_its_tool_call(package_dir, start):
    pytest.importorskip("mcp", reason="the MCP route needs the 'mcp' package")
    s = start(create_app(served(package_dir)))
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow", "arguments": {"task": 60}}}
    conn = _open(s, "/mcp", call)
    assert _in_flight_becomes(s, 1)
    conn.close()
    assert _in_flight_becomes(s, 0), "the abandoned tool call still holds its slot"
