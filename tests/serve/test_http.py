"""`lllm serve` over real HTTP: schemas, typed calls, validation, auth, limits, errors, metrics, shutdown."""

from __future__ import annotations

import threading
import time

from serve_support import PLANTED, served

from lllm.cli import main
from lllm.serve.app import Limits, create_app


def wait_in_flight(server, n: int) -> None:
    for _ in range(500):
        if server.json("GET", "/healthz")[1]["in_flight"] >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"never {n} call(s) in flight")


def test_lists_tactics_with_their_schemas_and_openapi(package_dir, start):
    s = start(create_app(served(package_dir)))
    status, body = s.json("GET", "/tactics")
    assert status == 200
    by_name = {t["name"]: t for t in body["tactics"]}
    assert set(by_name) == {"echo", "slow", "leaky"}
    echo = by_name["echo"]
    assert echo["description"] == "Repeat a topic n times."
    assert echo["input_schema"]["required"] == ["topic"] and echo["input_schema"]["properties"]["n"]["maximum"] == 10
    assert set(echo["output_schema"]["properties"]) == {"summary", "count"}
    assert by_name["slow"]["input_schema"] == {}
    status, doc = s.json("GET", "/openapi.json")
    assert doc["openapi"] == "3.1.0" and {"Query", "Result"} <= set(doc["components"]["schemas"])
    op = doc["paths"]["/tactics/echo/invoke"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Query"}
    answer = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["result"] == {"$ref": "#/components/schemas/Result"}


def test_invoke_returns_the_typed_result_session_and_cost(package_dir, start, store):
    s = start(create_app(served(package_dir, store), store=store))
    status, body = s.json("POST", "/tactics/echo/invoke", {"topic": "ab", "n": 3})
    assert status == 200
    assert body["result"] == {"summary": "ababab", "count": 3}
    assert body["cost"]["usd"] == 0 and body["cost"]["agent_calls"] == 0
    status, session = s.json("GET", f"/sessions/{body['session_id']}")
    assert status == 200 and session["tactic_name"] == "echo" and session["state"] == "success"
    assert session["metadata"]["served_by"] == "lllm serve"
    assert s.json("GET", "/sessions/nope")[0] == 404


def test_invalid_input_is_422_with_the_validation_errors(package_dir, start):
    s = start(create_app(served(package_dir)))
    status, body = s.json("POST", "/tactics/echo/invoke", {"n": 99})
    assert status == 422
    assert "not a valid Query for tactic 'echo'" in body["error"]
    assert {tuple(e["loc"]) for e in body["detail"]} == {("topic",), ("n",)}
    assert "The body is the task itself" not in body["error"]
    status, body = s.json("POST", "/tactics/echo/invoke", {"task": {"topic": "ab"}})  # wrapped, as some APIs want
    assert status == 422 and body["error"].endswith('The body is the task itself: send {"task": X} as X.')
    status, body = s.json("POST", "/tactics/echo/invoke", raw=b"{not json")
    assert status == 422
    status, body = s.json("POST", "/tactics/nope/invoke", {})
    assert status == 404 and "No tactic 'nope'" in body["error"] and "echo" in body["error"]


def test_a_token_is_required_when_set(package_dir, start):
    s = start(create_app(served(package_dir), token="tok-0123456789"))
    status, body = s.json("POST", "/tactics/echo/invoke", {"topic": "a"})
    assert status == 401 and "Authorization: Bearer" in body["error"]
    assert s.json("GET", "/tactics", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert s.json("GET", "/healthz")[0] == 200  # liveness stays open
    status, body = s.json(
        "POST", "/tactics/echo/invoke", {"topic": "a"}, headers={"Authorization": "Bearer tok-0123456789"}
    )
    assert status == 200 and body["result"]["summary"] == "a"


def test_without_a_token_only_loopback(package_dir, start, capsys):
    s = start(create_app(served(package_dir)))
    status, body = s.json("GET", "/tactics", headers={"Host": "evil.example:80"})
    assert status == 403 and "not a loopback address" in body["error"]
    assert main(["serve", str(package_dir), "--host", "0.0.0.0", "--port", "0"]) == 1
    assert "Refusing to serve on '0.0.0.0' without a token" in capsys.readouterr().err


def test_cross_site_posts_are_refused(package_dir, start):
    s = start(create_app(served(package_dir)))
    status, body = s.json("POST", "/tactics/echo/invoke", {"topic": "a"}, headers={"Content-Type": "text/plain"})
    assert status == 415 and "Content-Type: application/json" in body["error"]
    status, body = s.json("POST", "/tactics/echo/invoke", {"topic": "a"}, headers={"Origin": "https://evil.example"})
    assert status == 403 and "Cross-origin request from 'https://evil.example' refused" in body["error"]
    assert s.json("POST", "/tactics/echo/invoke", {"topic": "a"}, headers={"Origin": s.url})[0] == 200


def test_full_server_answers_429_with_retry_after(package_dir, start):
    s = start(create_app(served(package_dir), limits=Limits(max_concurrency=1, retry_after_s=3)))
    first = {}
    t = threading.Thread(target=lambda: first.update(r=s.json("POST", "/tactics/slow/invoke", 0.5)))
    t.start()
    wait_in_flight(s, 1)
    status, headers, text = s.request("POST", "/tactics/echo/invoke", {"topic": "a"})
    t.join()
    assert status == 429 and headers["Retry-After"] == "3" and "limit (--max-concurrency 1)" in text
    assert first["r"] == (
        200,
        {
            "tactic": "slow",
            "result": "slept 0.5",
            "session_id": None,
            "cost": {"prompt_tokens": 0, "completion_tokens": 0, "usd": 0.0, "agent_calls": 0},
        },
    )
    assert "lllm_serve_rejected_total 1" in s.request("GET", "/metrics")[2]


def test_body_size_limit_is_413(package_dir, start):
    s = start(create_app(served(package_dir), limits=Limits(max_body_bytes=200)))
    status, body = s.json("POST", "/tactics/echo/invoke", {"topic": "x" * 500})
    assert status == 413 and "limit of 200 bytes" in body["error"]
    assert s.json("POST", "/tactics/echo/invoke", {"topic": "x"})[0] == 200


def test_a_call_over_the_timeout_is_504(package_dir, start):
    s = start(create_app(served(package_dir), limits=Limits(timeout_s=0.2)))
    status, body = s.json("POST", "/tactics/slow/invoke", 30)
    assert status == 504 and "did not finish within 0.2 s" in body["error"]
    assert s.json("GET", "/healthz")[1]["in_flight"] == 0  # the async call was cancelled
    assert 'lllm_serve_errors_total{tactic="slow",kind="timeout"} 1' in s.request("GET", "/metrics")[2]


def test_tactic_errors_are_500_with_the_reason_and_metrics_count_them(package_dir, start):
    s = start(create_app(served(package_dir)))
    status, body = s.json("POST", "/tactics/echo/invoke", {"topic": "fail"})
    assert status == 500
    assert body == {"error": "Tactic 'echo' failed: ValueError: the topic 'fail' is refused", "type": "ValueError"}
    s.json("POST", "/tactics/echo/invoke", {"topic": "ok"})
    text = s.request("GET", "/metrics")[2]
    assert 'lllm_serve_requests_total{tactic="echo",endpoint="invoke",status="200"} 1' in text
    assert 'lllm_serve_requests_total{tactic="echo",endpoint="invoke",status="500"} 1' in text
    assert 'lllm_serve_errors_total{tactic="echo",kind="tactic_error"} 1' in text
    assert 'lllm_serve_request_duration_seconds_count{tactic="echo"} 2' in text
    assert "# TYPE lllm_serve_request_duration_seconds histogram" in text


def test_a_credential_in_a_config_never_appears_in_a_response(package_dir, start, store):
    s = start(create_app(served(package_dir, store), store=store))
    seen = []
    for method, path, body in [
        ("POST", "/tactics/leaky/invoke", "raise"),
        ("POST", "/tactics/leaky/invoke", "echo"),
        ("POST", "/tactics/leaky/stream", "raise"),
        ("POST", "/tactics/leaky/stream", "echo"),
        ("GET", "/tactics", None),
        ("GET", "/openapi.json", None),
        ("GET", "/metrics", None),
    ]:
        seen.append(s.request(method, path, body))
    sid = __import__("json").loads(seen[1][2])["session_id"]
    seen.append(s.request("GET", f"/sessions/{sid}"))
    assert seen[0][0] == 500 and "auth failed with key [REDACTED]" in seen[0][2]
    assert seen[1][0] == 200 and '"key": "[REDACTED]"' in seen[1][2]
    assert all(PLANTED not in text and PLANTED not in str(headers) for _, headers, text in seen)


def test_shutdown_drains_calls_in_flight(package_dir, start):
    s = start(create_app(served(package_dir), limits=Limits(drain_s=10)))
    out = {}
    t = threading.Thread(target=lambda: out.update(r=s.json("POST", "/tactics/slow/invoke", 0.5)))
    t.start()
    wait_in_flight(s, 1)
    s.stop()
    t.join()
    assert out["r"][0] == 200 and out["r"][1]["result"] == "slept 0.5"
    assert not s.thread.is_alive()
