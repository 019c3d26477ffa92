"""Credentials are scrubbed in the forms they travel in (review session 7): a key with ``+``, ``/`` or
``=`` (base64-style keys) is percent-encoded when it goes into a URL, and an HTTP client's error names
that URL; the encoded form must be replaced too."""

from __future__ import annotations

import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from urllib.parse import quote, quote_plus, urlencode

import pytest
from support.handler_server import serving

from lllm.secrets import REDACTED, environment_secrets, register_secret, scrub_text

REGISTERED = "Zm9vYmFy+s7/registered=="
IN_ENV = "dGVzdA+s7/environment=="


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = f"denied: {self.path}".encode()
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    with serving(_Echo) as url:
        yield url


def _error_text(url: str) -> str:
    try:
        urllib.request.urlopen(url, timeout=10)
    except urllib.error.HTTPError as e:
        return f"{e} for {e.url}: {e.read().decode()}"
    raise AssertionError("the server answered 403")


@pytest.mark.parametrize("encode", [quote_plus, lambda v: quote(v, safe=""), quote], ids=["plus", "strict", "path"])
def test_a_registered_key_is_scrubbed_when_percent_encoded(server, encode):
    register_secret(REGISTERED)
    text = _error_text(f"{server}/v1/items?key={encode(REGISTERED)}")
    assert encode(REGISTERED) in text  # the client and the server both show the encoded form
    clean = scrub_text(text)
    assert encode(REGISTERED) not in clean and REDACTED in clean


def test_an_environment_key_is_scrubbed_when_percent_encoded(server, monkeypatch):
    monkeypatch.setenv("STATION_API_KEY", IN_ENV)
    text = _error_text(f"{server}/v1/items?{urlencode({'api_key': IN_ENV})}")
    assert quote_plus(IN_ENV) in text
    assert quote_plus(IN_ENV) not in scrub_text(text)
    assert quote_plus(IN_ENV) in environment_secrets({"STATION_API_KEY": IN_ENV})


def test_an_environment_key_with_a_trailing_newline_is_scrubbed_where_shown_without_it(monkeypatch):
    """A key read from a file into the environment often keeps its newline (``KEY=$(cat f)`` does not,
    Docker/Kubernetes secret files and some .env loaders do). Errors show it escaped or stripped
    (``Illegal header value b'Bearer sk-...\\n'``), never with the raw newline the scrubber looked for."""
    key = "sk-s7-newline-0123456789"
    monkeypatch.setenv("SERVICE_API_KEY", key + "\n")
    shown = f"Illegal header value {('Bearer ' + key + chr(10)).encode()!r}; key {key} rejected"
    assert key not in scrub_text(shown)
    assert key in environment_secrets({"SERVICE_API_KEY": key + "\r\n"})
