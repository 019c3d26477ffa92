"""Session 7 review: RemoteTactic against servers that are slow, wrong or go away."""

from __future__ import annotations

import pytest
from serve_support import served

from lllm.errors import AgentCallError
from lllm.serve.app import create_app
from lllm.serve.client import RemoteTactic


def test_a_client_timeout_is_reported_as_a_timeout_naming_the_limit(package_dir, start):
    s = start(create_app(served(package_dir)))
    with pytest.raises(AgentCallError) as err:
        RemoteTactic(s.url, "slow", timeout=0.3).call(30)
    assert err.value.reason == "remote_timeout"  # the server is reachable: it is slow
    assert "did not answer within 0.3 s" in str(err.value)
