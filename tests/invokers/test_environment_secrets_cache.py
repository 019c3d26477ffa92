"""secrets.scrub_text reads the environment again only when os.environ changed, and sees every change."""

import os

from lllm import secrets

KEY = "LLLM_TEST_CACHE_PROBE_API_KEY"


def test_a_key_set_changed_or_removed_later_is_seen(monkeypatch):
    monkeypatch.delenv(KEY, raising=False)
    first, second = "probe-value-" + "1" * 12, "probe-value-" + "2" * 12
    assert secrets.scrub_text(f"x {first} y") == f"x {first} y"
    monkeypatch.setenv(KEY, first)
    assert secrets.scrub_text(f"x {first} y") == "x [REDACTED] y"
    assert first in secrets.all_secrets() and first in secrets.environment_secrets()
    monkeypatch.setenv(KEY, second)
    assert secrets.scrub_text(f"{first} {second}") == f"{first} [REDACTED]"
    os.environ.update({KEY: first})
    assert secrets.scrub({"a": [f"k={first}"]}) == {"a": ["k=[REDACTED]"]}
    monkeypatch.delenv(KEY)
    assert first not in secrets.environment_secrets()


def test_an_explicit_mapping_is_read_as_given():
    env = {"X_TOKEN": "explicit-token-value", "OTHER": "explicit-other-value"}
    assert secrets.environment_secrets(env) == ["explicit-token-value"]


def test_registered_and_environment_secrets_merge_longest_first(monkeypatch):
    monkeypatch.setenv(KEY, "env-secret-" + "e" * 20)
    secrets.register_secret("registered-" + "r" * 30)
    merged = secrets.all_secrets()
    assert merged.index("registered-" + "r" * 30) < merged.index("env-secret-" + "e" * 20)
    assert merged == sorted(merged, key=len, reverse=True)
