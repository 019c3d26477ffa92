"""Redaction (§9.3 item 5): secret-named fields and provider keys from the environment."""

from __future__ import annotations

import copy

import pytest

from lllm import Tactic, tool
from lllm.logging import REDACTED, redact, sqlite_store
from lllm.logging.conformance import make_session
from lllm.logging.redact import environment_secrets, is_secret_name


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "API-KEY",
        "x-api-key",
        "apikey",
        "openai_api_key",
        "Authorization",
        "proxy_authorization",
        "client_secret",
        "password",
        "access_token",
        "token",
        "hf_token",
        "key",
        "private_key",
        "aws_secret_access_key",
        "cookie",
        "credentials",
    ],
)
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "prompt_key",
        "cache_key",
        "max_tokens",
        "prompt_tokens",
        "total_tokens",
        "token_count",
        "keys",
        "monkey",
        "tokenizer",
        "model",
        "messages",
    ],
)
def test_names_that_are_not_secrets(name):
    assert not is_secret_name(name)


def test_secret_fields_are_redacted_and_counters_kept():
    value = {
        "api_key": "sk-1",
        "max_tokens": 100,
        "token": None,
        "password": "",
        "nested": [{"secret": {"a": 1}}],
        "usage": {"prompt_tokens": 3, "total_tokens": 5},
        "prompt_key": "demo/p",
    }
    original = copy.deepcopy(value)
    assert redact(value, secrets=[]) == {
        "api_key": REDACTED,
        "max_tokens": 100,
        "token": None,
        "password": "",
        "nested": [{"secret": REDACTED}],
        "usage": {"prompt_tokens": 3, "total_tokens": 5},
        "prompt_key": "demo/p",
    }
    assert value == original  # a copy: the input is untouched


def test_provider_keys_in_the_environment_are_redacted_wherever_they_appear(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-0123456789abcdef")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789")
    monkeypatch.setenv("SHORT_TOKEN", "1")  # too short to redact everywhere
    monkeypatch.setenv("HOME_DIR_NAME", "sk-ant-0123456789abcdef-not-a-key-var")
    assert {"sk-ant-0123456789abcdef", "tok-0123456789"} <= set(environment_secrets())
    assert "1" not in environment_secrets()
    value = {
        "messages": [{"content": "my key is sk-ant-0123456789abcdef, token tok-0123456789"}],
        "exact": "sk-ant-0123456789abcdef",
        "n": 1,
        "flag": "1",
    }
    assert redact(value) == {
        "messages": [{"content": f"my key is {REDACTED}, token {REDACTED}"}],
        "exact": REDACTED,
        "n": 1,
        "flag": "1",
    }


def test_a_tactic_records_its_config_redacted_without_losing_settings(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-abcdefghijkl")

    class Plain(Tactic, register=False):
        name = "plain"

        def call(self, task):
            return task

    config = {
        "global": {
            "model_name": "test",
            "api_key": "sk-inline-secret",
            "model_args": {"max_tokens": 50, "base_url": "http://x?key=sk-env-abcdefghijkl"},
        }
    }
    store = sqlite_store()
    session = Plain(config, log_store=store)("hi", return_session=True)
    assert session.config["global"]["model_args"]["max_tokens"] == 50
    stored = store.load_session(session.session_id).config["global"]
    assert stored["api_key"] == REDACTED and stored["model_args"] == {
        "max_tokens": 50,
        "base_url": f"http://x?key={REDACTED}",
    }


def test_provider_keys_used_as_dict_keys_are_redacted(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-as-a-key-0123456789")
    store = sqlite_store()
    session = make_session()
    session.task = {"per_key_usage": {"sk-as-a-key-0123456789": 3}}
    sid = store.save_session(session, metadata={"sk-as-a-key-0123456789": "seen"})
    raw = b"".join(store.backend.get(k) for k in store.backend.list_keys())
    assert b"sk-as-a-key-0123456789" not in raw
    assert store.load_session(sid).task == {"per_key_usage": {REDACTED: 3}}


def test_a_variable_named_api_key_is_a_provider_key():
    assert environment_secrets({"API_KEY": "plain-0123456789", "TOKEN": "tok-0123456789"}) == [
        "plain-0123456789",
        "tok-0123456789",
    ]


def test_tool_parameters_named_like_secrets_keep_their_schema_in_recorded_requests(monkeypatch):
    """A tool parameter called ``token`` or ``api_key`` is a name in the schema, not a secret field:
    the request keeps the tool schemas (§9.3 item 1) while secret values are still hidden."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-abcdefghijkl")

    @tool
    def check_token(token: str, api_key: str = "") -> str:
        """Check a token.

        Args:
            token: The token to check.
            api_key: The key to check it with.
        """
        return "ok"

    schema = check_token.to_tool()
    assert set(schema["function"]["parameters"]["properties"]) == {"token", "api_key"}
    request = {
        "body": {
            "model": "m",
            "tools": [schema],
            "api_key": "sk-inline",
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "R",
                    "schema": {
                        "type": "object",
                        "properties": {"token": {"type": "string"}, "secret": "sk-env-abcdefghijkl"},
                    },
                },
            },
        }
    }
    session = make_session()
    session.agent_sessions["writer"][0].invoke_traces[0][0].request = request
    store = sqlite_store()
    loaded = store.load_session(store.save_session(session)).agent_sessions["writer"][0].invoke_traces[0][0].request
    assert loaded["body"]["tools"] == [schema] and loaded["body"]["api_key"] == REDACTED
    assert loaded["body"]["response_format"]["json_schema"]["schema"]["properties"] == {
        "token": {"type": "string"},
        "secret": REDACTED,
    }


def test_settings_are_registered_again_when_their_content_changes():
    from lllm.secrets import known_secrets, register_settings

    settings = {"api_base": "http://127.0.0.1:1/v1", "api_key": "sk-first-flat-key-123"}
    register_settings(settings)
    register_settings(settings)
    settings["api_key"] = "sk-second-flat-key-456"  # changed in place: seen on the next request
    register_settings(settings)
    nested = {"global": {"model_args": {"api_key": "sk-nested-key-789"}}}
    register_settings(nested)
    nested["global"]["model_args"]["api_key"] = "sk-nested-key-changed"
    register_settings(nested)
    for key in ("sk-first-flat-key-123", "sk-second-flat-key-456", "sk-nested-key-789", "sk-nested-key-changed"):
        assert key in known_secrets()


def test_an_invokers_config_is_registered_when_set():
    from lllm.invokers.openai import OpenAIInvoker
    from lllm.secrets import known_secrets

    inv = OpenAIInvoker({"global": {"model_args": {"api_key": "sk-config-at-construction"}}})
    assert "sk-config-at-construction" in known_secrets()
    inv.config = {"api_key": "sk-config-assigned-later"}
    assert "sk-config-assigned-later" in known_secrets()
