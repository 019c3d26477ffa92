"""Session 7 review (c): /metrics wrote every value with ``:g``, six significant digits, so a counter past a
million was rounded (1234567 tokens read as 1.23457e+06) and small increments of a long-running server's
totals did not show at all. Values are now written exactly."""

from __future__ import annotations

from serve_support import served

from lllm.serve.app import STATE, create_app


def value(text: str, prefix: str) -> float:
    return float(next(line for line in text.splitlines() if line.startswith(prefix)).rsplit(" ", 1)[1])


def test_large_counters_and_costs_are_exact(package_dir, start):
    app = create_app(served(package_dir))
    s = start(app)
    assert s.json("POST", "/tactics/echo/invoke", {"topic": "a"})[0] == 200
    app[STATE].metrics.usage("echo", 1_234_567, 7_654_321, 123.4567891)  # a busy server's running totals
    app[STATE].metrics.usage("echo", 1, 0, 0.0000001)
    text = s.request("GET", "/metrics")[2]
    assert value(text, 'lllm_serve_tokens_total{tactic="echo",kind="prompt"}') == 1_234_568
    assert value(text, 'lllm_serve_tokens_total{tactic="echo",kind="completion"}') == 7_654_321
    assert value(text, 'lllm_serve_cost_usd_total{tactic="echo"}') == 123.4567891 + 0.0000001
    assert 'lllm_serve_requests_total{tactic="echo",endpoint="invoke",status="200"} 1\n' in text
