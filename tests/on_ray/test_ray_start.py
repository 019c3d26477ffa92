"""A batch that starts its own local Ray instance stops it again, also when the batch fails before its pool starts."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'lllm[ray]' to run tests/on_ray")

from ray_tactics import Ask, config  # noqa: E402

from lllm.core import wiring  # noqa: E402
from lllm.logging import local_store  # noqa: E402


def test_a_local_instance_is_shut_down_when_the_batch_leases_cannot_be_opened(fake_servers, tmp_path, monkeypatch):
    assert not ray.is_initialized()  # another module's instance is gone: this batch starts its own
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ray-start-3b1d")

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("lease table unavailable")

    monkeypatch.setattr(wiring.services, "batch_leases", refuse)
    tactic = Ask(config(fake_servers("--latency-ms", "5")), log_store=local_store(tmp_path))
    with pytest.raises(RuntimeError, match="lease table unavailable"):
        tactic.bcall(["a", "b"], batch_id="b1", backend="ray", backend_options={"num_cpus": 1})
    assert not ray.is_initialized()
