"""A proxy's credential never reaches the model through ``CALL_API`` (review session 7).

The proxy runs in the parent and calls a real HTTP API on 127.0.0.1 with its key (read from the
environment, as a provider key is). When that API fails, or answers with the key inside the data (a
``next`` link carrying ``api_key=``), what comes back to ``run_python`` must not contain the key: the
text of the exception raised inside the sandbox, its traceback and the printed data are what the model
reads (and what the session records)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler

import pytest
from support.handler_server import serving

from lllm import Runtime
from lllm.proxies import BaseProxy, ProxyManager, ProxyRegistrator
from lllm.sandbox import AgentInterpreter, bwrap_status

KEY = "wx-live-5f2c9a1e7b3d4c6a"
BWRAP_OK, BWRAP_WHY = bwrap_status()
BACKENDS = [
    "inprocess",
    pytest.param("subprocess", marks=pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")),
    pytest.param("bwrap", marks=pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap is not usable: {BWRAP_WHY}")),
]


class _Api(BaseHTTPRequestHandler):
    """401 with the request echoed (as many APIs do) for /forecast; a page with a ``next`` link for /list."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/forecast"):
            body, status = json.dumps({"error": "invalid key", "request": self.path}).encode(), 401
        else:
            host = f"http://127.0.0.1:{self.server.server_address[1]}"
            body = json.dumps({"items": [1, 2], "next": f"{host}/list?page=2&api_key={KEY}"}).encode()
            status = 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def weather_api():
    with serving(_Api) as url:
        yield url


@pytest.fixture
def pm(weather_api, monkeypatch):
    monkeypatch.setenv("WEATHER_API_KEY", KEY)
    rt = Runtime("s7-credentials")

    @ProxyRegistrator(path="weather", name="Weather", description="Forecasts.", runtime=rt)
    class Weather(BaseProxy):
        def _get(self, path: str) -> dict:
            import os

            url = f"{weather_api}{path}?api_key={os.environ['WEATHER_API_KEY']}"
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as e:
                raise RuntimeError(f"GET {url} failed: {e.code} {e.read().decode()}") from None

        @BaseProxy.endpoint(category="F", endpoint="forecast", description="Forecast.", params={}, response={})
        def forecast(self):
            return self._get("/forecast")

        @BaseProxy.endpoint(category="F", endpoint="raw", description="Forecast.", params={}, response={})
        def raw(self):
            urllib.request.urlopen(f"{weather_api}/forecast", timeout=10)

        @BaseProxy.endpoint(category="F", endpoint="list", description="Stations.", params={}, response={})
        def stations(self):
            return self._get("/list")

    return ProxyManager(runtime=rt)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_endpoint_error_echoing_the_key_reaches_the_model_without_it(pm, backend):
    with AgentInterpreter(pm, backend=backend, timeout=30) as interp:
        uncaught = interp.run("CALL_API('weather/forecast', {})")
        caught = interp.run("try:\n    CALL_API('weather/forecast', {})\nexcept RuntimeError as e:\n    print(repr(e))")
    assert "RuntimeError" in uncaught and "401" in uncaught and "invalid key" in uncaught
    assert "401" in caught
    assert KEY not in uncaught and KEY not in caught


@pytest.mark.parametrize("backend", BACKENDS)
def test_endpoint_data_carrying_the_key_reaches_the_model_without_it(pm, backend):
    with AgentInterpreter(pm, backend=backend, timeout=30) as interp:
        out = interp.run("r = CALL_API('weather/list', {})\nprint(r['items'], r['next'])")
    assert "[1, 2]" in out and "page=2" in out
    assert KEY not in out


def test_a_provider_key_the_code_finds_is_not_shown_to_the_model(monkeypatch):
    """Where code can read the host's keys (the in-process backend; the subprocess one without root, via
    ``/proc/<parent>/environ``; a Jupyter kernel, likewise), what it printed went to the model as is."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-s7-host-key-0123456789")
    with AgentInterpreter(backend="inprocess", timeout=30) as interp:
        result = interp.execute("import os\nprint('OPENAI_API_KEY=' + os.environ['OPENAI_API_KEY'])")
        shown, whole = interp.describe(result), interp.describe(result, clip=False)
    assert shown.startswith("OPENAI_API_KEY=")
    assert "sk-s7-host-key-0123456789" not in shown and "sk-s7-host-key-0123456789" not in whole


def test_a_jupyter_cell_printing_a_key_does_not_show_it_to_the_model(tmp_path):
    pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    pytest.importorskip("nbformat")
    from lllm.sandbox.jupyter import JupyterError, JupyterSession
    from lllm.secrets import register_secret

    register_secret("sk-s7-kernel-seen-0123456789")
    session = JupyterSession("keys", tmp_path)
    try:
        session.init_session()
    except JupyterError as e:
        pytest.skip(f"an IPython kernel cannot start here: {e}")
    with session:
        out = session.run_cell(
            "print('sk-s7-kernel-' + 'seen-0123456789')\nraise ValueError('sk-s7-kernel-' + 'seen-0123456789')"
        )
    assert "ValueError" in out and "sk-s7-kernel-seen-0123456789" not in out


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unknown_endpoint_raises_key_error_in_the_sandbox_as_the_prompt_says(pm, backend):
    """The system prompt tells the model CALL_API "raises KeyError, ValueError, ... on a wrong path": the
    manager's ProxyLookupError (a KeyError) arrived as RuntimeError, so ``except KeyError`` missed it. An
    endpoint's own error of a library type keeps its builtin base and names its class."""
    with AgentInterpreter(pm, backend=backend, timeout=30) as interp:
        out = interp.run("try:\n    CALL_API('weather/nope', {})\nexcept KeyError as e:\n    print('KeyError', e)")
        assert out.startswith("KeyError") and "no endpoint 'nope'" in out
        out = interp.run("try:\n    CALL_API('weather/raw', {})\nexcept OSError as e:\n    print('OSError', e)")
        assert out.startswith("OSError") and "HTTPError" in out
