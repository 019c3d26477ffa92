"""Credentials are scrubbed by value from everything LLLM stores or emits (issue 8, item 1).

A matrix through the real path: a Tactic with one Agent calls a real aiohttp server on 127.0.0.1
through the native OpenAI-compatible or Anthropic invoker. Every way of passing a credential ×
a server that answers, echoes every request header in a 401 or a 500 body, or refuses the
connection × every sink (SQLite file bytes, JSON store files, PostgreSQL, ``lllm sessions export``,
OpenTelemetry spans, log records, the AgentCallError and its session, the ProviderError): the
credential occurs 0 times."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from aiohttp import web

from lllm import Tactic
from lllm.core.tactic import session_hooks
from lllm.errors import AgentCallError, ConfigError, ProviderError
from lllm.logging import local_store, sqlite_store
from lllm.secrets import REDACTED, register_headers, register_secret, register_url, scrub, scrub_text, strip_userinfo

POSTGRES_DSN = os.environ.get("LLLM_TEST_POSTGRES_DSN")
# LiteLLM's own import-time and pydantic warnings are not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# The provider: a real HTTP server that answers, or echoes every credential it received
# ---------------------------------------------------------------------------------------------

OPENAI_OK = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
ANTHROPIC_OK = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "hello"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 5, "output_tokens": 1},
}


async def _answer(request: web.Request) -> web.Response:
    mode = request.match_info["mode"]
    raw = (await request.read()).decode("utf-8", "replace")
    if mode == "ok":
        return web.json_response(ANTHROPIC_OK if request.path.endswith("/messages") else OPENAI_OK)
    values = "; ".join(f"{k}={v}" for k, v in request.headers.items())
    # some gateways echo the rejected credential: here every header, the URL and the body
    return web.json_response(
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": f"Incorrect API key provided: {values}"},
            "echo": {"headers": dict(request.headers), "url": str(request.url), "body": raw},
        },
        status=401 if mode == "401" else 500,
    )


class EchoServer:
    """An aiohttp server on 127.0.0.1 in a thread of its own; ``base(mode)`` is its URL for a mode."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner: Any = None
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/{mode}/v1/chat/completions", _answer)
        app.router.add_post("/{mode}/v1/messages", _answer)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed: connections are refused


@pytest.fixture(scope="module", autouse=True)
def _registry_restored():
    """The registry lives for the process: leave it as this module found it (hundreds of one-off test keys
    would slow every later redaction in the test run)."""
    import lllm.secrets as registry

    before = set(registry._values)
    yield
    with registry._lock:
        registry._values.intersection_update(before)
        registry._sorted = tuple(sorted(registry._values, key=len, reverse=True))


@pytest.fixture(scope="module")
def server():
    s = EchoServer()
    yield s
    s.close()


# ---------------------------------------------------------------------------------------------
# The ways a credential reaches an invoker
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    model_args: Dict[str, Any] = field(default_factory=dict)
    invoker_config: Dict[str, Any] = field(default_factory=dict)
    respond_args: Optional[Dict[str, Any]] = None
    env: Dict[str, str] = field(default_factory=dict)
    secrets: List[str] = field(default_factory=list)  # must occur nowhere


WAYS = [
    "env",
    "model_args.api_key",
    "invoker_config.api_key",
    "respond_args.api_key",
    "model_args.extra_headers",
    "invoker_config.extra_headers",
    "api_base_userinfo",
    "base_url_userinfo",
]
OUTCOMES = ["ok", "401", "500", "refused"]
INVOKERS = ["openai", "anthropic", "litellm"]
MODELS = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-sonnet-4-5", "litellm": "openai/gpt-4o-mini"}
ENV_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "litellm": "OPENAI_API_KEY"}


def _secret(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def build_case(way: str, invoker: str, base: str) -> Case:
    """Where the secret goes for ``way``; the Anthropic and LiteLLM invokers always need a key (a second one)."""
    key = _secret("sk-matrix")
    case = Case(secrets=[key])
    case.model_args["api_base"] = base
    if way == "env":
        case.env[ENV_KEYS[invoker]] = key
    elif way == "model_args.api_key":
        case.model_args["api_key"] = key
    elif way == "invoker_config.api_key":
        case.invoker_config["api_key"] = key
    elif way == "respond_args.api_key":
        case.respond_args = {"api_key": key}
    elif way in ("model_args.extra_headers", "invoker_config.extra_headers"):
        where = case.model_args if way.startswith("model_args") else case.invoker_config
        where["extra_headers"] = {"Ocp-Apim-Subscription-Key": key, "X-Title": "lllm-tests"}
    else:  # user:password@ in the URL; the user is a credential too
        user = _secret("gateway-user")
        scheme, rest = base.split("://", 1)
        case.model_args.pop("api_base")
        case.model_args["api_base" if way == "api_base_userinfo" else "base_url"] = f"{scheme}://{user}:{key}@{rest}"
        basic = base64.b64encode(f"{user}:{key}".encode()).decode()
        case.secrets += [user, basic]
    if invoker != "openai" and way not in (
        "env",
        "model_args.api_key",
        "invoker_config.api_key",
        "respond_args.api_key",
    ):
        other = _secret("sk-ant-second")
        case.model_args["api_key"] = other
        case.secrets.append(other)
    return case


class Probe(Tactic, register=False):
    name = "probe"
    agent_group = ["worker"]

    def call(self, task: str, respond_args: Optional[Dict[str, Any]] = None) -> str:
        worker = self.agents["worker"]
        worker.open("main")
        worker.receive(task)
        return worker.respond(args=respond_args).content


def _config(model: str, case: Case, invoker: str = "auto") -> Dict[str, Any]:
    return {
        "invoker": invoker,
        "global": {
            "model_name": model,
            "model_args": case.model_args,
            "max_llm_recall": 0,
            "rate_limit_retries": 0,
            "max_exception_retry": 0,
        },
        "agent_configs": [{"name": "worker", "system_prompt": "You answer."}],
        "invoker_config": case.invoker_config,
    }


# ---------------------------------------------------------------------------------------------
# The sinks
# ---------------------------------------------------------------------------------------------


class Records(logging.Handler):
    """Every record of the ``lllm`` loggers, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def records():
    handler = Records()
    root = logging.getLogger("lllm")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def spans():
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from lllm.logging.tracing import disable_tracing, enable_tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(provider)
    yield exporter
    disable_tracing()


@pytest.fixture
def captured():
    """The raw TacticCallSession objects as tactics finish them (before any store redacts them)."""
    seen: List[Any] = []
    session_hooks.append(seen.append)
    yield seen
    session_hooks.remove(seen.append)


def _span_text(exporter: Any) -> str:
    out = []
    for s in exporter.get_finished_spans():
        out.append(
            json.dumps(
                {
                    "name": s.name,
                    "attributes": dict(s.attributes or {}),
                    "status": s.status.description,
                    "events": [e.name for e in s.events],
                },
                default=str,
            )
        )
    return "\n".join(out)


def _files(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _leaks(secrets: List[str], sinks: Dict[str, Any]) -> Dict[str, List[str]]:
    """``{sink: [secrets found in it]}`` for every sink holding one (bytes or text)."""
    found = {}
    for name, content in sinks.items():
        data = content if isinstance(content, bytes) else str(content).encode("utf-8", "replace")
        hits = [s for s in secrets if s.encode() in data]
        if hits:
            found[name] = hits
    return found


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("invoker", INVOKERS)
@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("way", WAYS)
def test_no_credential_reaches_any_sink(
    server, records, spans, captured, capsys, monkeypatch, tmp_path, invoker, outcome, way
):
    port = _closed_port() if outcome == "refused" else server.port
    if invoker == "litellm" and importlib.util.find_spec("litellm") is None:
        pytest.skip("LiteLLM is an optional extra: pip install 'lllm[litellm]'")
    base = f"http://127.0.0.1:{port}/{outcome}" + ("" if invoker == "anthropic" else "/v1")
    case = build_case(way, invoker, base)
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    db = tmp_path / "sessions.db"
    tactic = Probe(
        _config(MODELS[invoker], case, "litellm" if invoker == "litellm" else "auto"), log_store=sqlite_store(db)
    )

    error: Optional[AgentCallError] = None
    # LiteLLM's OpenAI client always sends a Bearer key, which cannot go with a URL's user:password@ (the
    # call fails before it is sent, whatever the server): the sinks must be clean all the same
    refused_by_client = invoker == "litellm" and way.endswith("userinfo")
    if outcome == "ok" and not refused_by_client:
        assert tactic("hi", respond_args=case.respond_args) == "hello"
    else:
        with pytest.raises(AgentCallError) as ei:
            tactic("hi", respond_args=case.respond_args)
        error = ei.value
        if refused_by_client:  # a ConfigError naming the conflict, before anything is sent
            cause = error.__cause__
            assert isinstance(cause, ConfigError) and "user:password@" in str(cause) and "invoker: auto" in str(cause)
        else:
            assert isinstance(error.__cause__, ProviderError)
        if outcome == "401" and not refused_by_client:  # the server did echo the credential: a leak would show
            assert error.__cause__.status == 401 and REDACTED in str(error.__cause__)

    [raw] = captured
    tactic.log_store.backend.close()
    json_dir = tmp_path / "json-store"
    local_store(json_dir).save_session(raw)
    sinks: Dict[str, Any] = {
        "sqlite file": _files(tmp_path),
        "json store files": _files(json_dir),
        "otel spans": _span_text(spans),
        "log records": "\n".join(records.lines),
    }
    assert spans.get_finished_spans() and records.lines
    if POSTGRES_DSN:
        from lllm.logging import postgres_store

        pg = postgres_store(POSTGRES_DSN, partition=f"creds-{uuid.uuid4().hex[:12]}")
        pg.save_session(raw)
        sinks["postgresql"] = b"".join(pg.backend.get(k) for k in pg.backend.list_keys(pg.partition + "/"))
        pg.close()
    from lllm.cli import main

    capsys.readouterr()
    assert main(["sessions", "export", "--store", str(db), raw.session_id]) == 0
    exported = capsys.readouterr().out
    assert json.loads(exported)["session_id"] == raw.session_id
    sinks["lllm sessions export"] = exported
    if error is not None:
        cause = error.__cause__
        sinks["AgentCallError"] = f"{error}\n{error!r}\n" + "".join(traceback.format_exception(error))
        sinks["AgentCallError.session"] = error.session.model_dump_json()
        body = json.dumps(getattr(cause, "body", None), default=str)
        sinks[type(cause).__name__] = f"{cause}\n{cause!r}\n{body}\n{getattr(cause, 'message', '')}"
    assert _leaks(case.secrets, sinks) == {}
    if way.endswith("userinfo") and invoker != "litellm":  # a stored URL keeps no user:password@
        stored = sqlite_store(db).load_session(raw.session_id)
        trace = stored.agent_sessions["worker"][0].invoke_traces[0][0]
        assert "@" not in trace.request["url"] and trace.request["url"].startswith("http://127.0.0.1:")
    if way.endswith("userinfo"):
        stored_args = sqlite_store(db).load_session(raw.session_id).config["global"]["model_args"]
        assert stored_args.get("api_base", stored_args.get("base_url")) == base


def test_the_export_cli_in_a_fresh_process_prints_no_credential(server, tmp_path, monkeypatch):
    """The real ``lllm sessions export`` in a subprocess, whose registry is empty: what was stored is clean."""
    key = _secret("sk-subprocess")
    base = f"http://127.0.0.1:{server.port}/401/v1"
    case = Case(model_args={"api_base": base, "extra_headers": {"Ocp-Apim-Subscription-Key": key}})
    db = tmp_path / "sessions.db"
    with pytest.raises(AgentCallError):
        Probe(_config("openai/gpt-4o-mini", case), log_store=sqlite_store(db))("hi")
    [summary] = sqlite_store(db).list_sessions()
    env = {**os.environ, "LLLM_HOME": str(tmp_path / ".home"), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "lllm.cli", "sessions", "export", "--store", str(db), summary.session_id],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["session"]["state"] == "failure"
    assert key not in out.stdout and REDACTED in out.stdout


# ---------------------------------------------------------------------------------------------
# The pieces
# ---------------------------------------------------------------------------------------------


def test_header_values_are_registered_except_the_never_secret_ones():
    key = _secret("custom")
    register_headers(
        {
            "Ocp-Apim-Subscription-Key": key,
            "Authorization": "Bearer " + _secret("tok"),
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "lllm-test-agent/1.0",
        }
    )
    assert scrub_text(f"k={key}") == f"k={REDACTED}"
    assert (
        scrub_text("application/json; charset=utf-8 lllm-test-agent/1.0")
        == "application/json; charset=utf-8 lllm-test-agent/1.0"
    )


def test_a_bearer_credential_is_hidden_without_its_scheme_too():
    token = _secret("bearer-token")
    register_headers({"Authorization": f"Bearer {token}"})
    assert scrub_text(f"got {token}") == f"got {REDACTED}"


def test_short_values_are_not_registered_but_userinfo_is_stripped_from_every_url():
    register_secret("short")
    register_url("http://bob:pw@127.0.0.1:1/v1")
    assert scrub_text("a short text") == "a short text"
    assert scrub_text("see http://bob:pw@127.0.0.1:1/v1 now") == f"see http://{REDACTED}@127.0.0.1:1/v1 now"
    assert scrub_text("http://bob:pw@127.0.0.1:1/v1") == "http://127.0.0.1:1/v1"  # a stored api_base stays usable
    assert strip_userinfo("http://bob:pw@127.0.0.1:1/v1?x=1") == "http://127.0.0.1:1/v1?x=1"
    assert strip_userinfo("http://127.0.0.1:1/v1") == "http://127.0.0.1:1/v1"


def test_scrub_copies_only_what_holds_a_credential():
    key = _secret("scrub")
    register_secret(key)
    clean = {"a": ["x", {"b": 1}]}
    value = {"clean": clean, "dirty": [f"echo {key}"]}
    out = scrub(value)
    assert out == {"clean": clean, "dirty": [f"echo {REDACTED}"]} and out["clean"] is clean
    assert value["dirty"] == [f"echo {key}"]  # the input is untouched
    assert scrub(clean) is clean


def test_lllm_log_records_are_scrubbed_with_their_traceback_and_others_are_not(records):
    key = _secret("logged")
    register_secret(key)
    try:
        raise RuntimeError(f"boom {key}")
    except RuntimeError:
        logging.getLogger("lllm.invoker").warning("key %s in use", key, exc_info=True)
    text = "\n".join(records.lines)
    assert key not in text and f"key {REDACTED} in use" in text and f"boom {REDACTED}" in text
    other = logging.getLogger("not_lllm").makeRecord("not_lllm", logging.INFO, __file__, 1, "k %s", (key,), None)
    assert other.getMessage() == f"k {key}"


def test_provider_and_agent_errors_scrub_their_message_and_body():
    key = _secret("sk-error")
    register_secret(key)
    err = ProviderError(f"401: bad key {key}", status=401, body={"error": {"message": key}})
    assert key not in str(err) and key not in repr(err) and key not in json.dumps(err.body)
    agent_err = AgentCallError(f"failed: {err}", reason="llm_error", detail=key)
    assert key not in str(agent_err) and key not in agent_err.detail


def test_userinfo_and_an_authorization_header_together_are_refused_with_a_clear_error(server):
    user, password = _secret("user"), _secret("pw")
    base = f"http://{user}:{password}@127.0.0.1:{server.port}/ok/v1"
    case = Case(model_args={"api_base": base, "api_key": _secret("sk-both")})
    with pytest.raises(AgentCallError) as ei:
        Probe(_config("openai/gpt-4o-mini", case))("hi")
    cause = ei.value.__cause__
    assert isinstance(cause, ConfigError) and "user:password@" in str(cause) and "Authorization" in str(cause)
    assert password not in str(ei.value) and password not in str(cause)


def test_spans_are_built_from_scrubbed_text_even_for_a_session_nobody_redacted(spans, monkeypatch):
    from lllm.logging.conformance import make_session
    from lllm.logging.tracing import export_session

    key, env_key = _secret("sk-span"), _secret("sk-env-span")
    register_secret(key)
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", env_key)
    session = make_session()
    session.state, session.error = "failure", f"ProviderError: 401 echo {key} {env_key} http://u:p@h/v1"
    agent = session.agent_sessions["writer"][0]
    agent.state, agent.error = "failure", {"type": "ProviderError", "message": f"echo {key}"}
    export_session(session, spans_tracer(spans))
    text = _span_text(spans)
    assert spans.get_finished_spans() and key not in text and env_key not in text and "u:p@" not in text


def spans_tracer(exporter: Any) -> Any:
    """A tracer whose spans land in ``exporter``."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


def test_the_registry_takes_registrations_from_many_threads_at_once():
    barrier = threading.Barrier(8)
    values = [[_secret(f"thread{t}") for _ in range(25)] for t in range(8)]

    def work(mine: List[str]) -> None:
        barrier.wait()
        for v in mine:
            register_secret(v)

    threads = [threading.Thread(target=work, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    from lllm.secrets import known_secrets

    known = known_secrets()
    assert all(v in known for vs in values for v in vs)
    assert [len(s) for s in known] == sorted((len(s) for s in known), reverse=True)


@pytest.mark.parametrize("invoker", ["openai", "anthropic"])
def test_a_streamed_call_rejected_with_an_echo_leaks_nothing(server, invoker):
    from lllm import Agent
    from lllm.core.stream import BaseStreamHandler

    key, header = _secret("sk-stream"), _secret("sub-stream")
    base = f"http://127.0.0.1:{server.port}/401" + ("/v1" if invoker == "openai" else "")
    agent = Agent(
        name="streamer",
        system_prompt="You answer.",
        model=MODELS[invoker],
        max_llm_recall=0,
        model_args={"api_base": base, "api_key": key, "extra_headers": {"Ocp-Apim-Subscription-Key": header}},
        stream_handler=BaseStreamHandler(),
    )
    agent.open("main")
    agent.receive("hi")
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    err = ei.value
    assert isinstance(err.__cause__, ProviderError) and err.__cause__.status == 401
    text = "".join(traceback.format_exception(err)) + repr(err) + err.session.model_dump_json()
    assert key not in text and header not in text and REDACTED in text


def test_a_conflicting_endpoint_setting_names_the_setting_without_echoing_credentials():
    from lllm import Agent

    a, b = _secret("sk-kw"), _secret("sk-args")
    with pytest.raises(ConfigError) as ei:
        Agent(name="a", system_prompt="s", model="openai/gpt-4o-mini", api_key=a, model_args={"api_key": b})
    assert "api_key" in str(ei.value) and a not in str(ei.value) and b not in str(ei.value)
