"""The Ray tests' instances are throwaway and loopback-only: they run without Ray's token authentication.
One setting for the whole folder, before any of them starts: a process that once started a local Ray
instance with token authentication keeps requiring the token, and then cannot drive the test cluster."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _ray_without_auth_tokens():
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")
    yield
    mp.undo()
