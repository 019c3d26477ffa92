"""What ``bcall``/``ccall`` hand a batch backend (``wiring.services.run_batch``): every batch option, lease_ttl too."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Generator, List, Tuple

from lllm import Tactic
from lllm.core import wiring


class Echo(Tactic, register=False):
    name = "echo_backend"
    agent_group: List[str] = []

    def call(self, task: str) -> str:
        return task


class Recording(type(wiring.services)):  # type: ignore[misc]
    """The installed services, with a batch backend that records its options and answers each task itself."""

    seen: List[Dict[str, Any]] = []

    def run_batch(
        self, tactic: Any, tasks: List[Any], backend: str, options: Dict[str, Any]
    ) -> Generator[Tuple[int, Any], None, None]:
        self.seen.append({"backend": backend, **options})
        return ((i, f"{backend}:{t}") for i, t in enumerate(tasks))


def test_every_batch_option_reaches_the_backend():
    previous = wiring.install(Recording())
    try:
        out = Echo({}).bcall(
            ["a", "b"],
            backend="fake",
            backend_options={"address": "x"},
            batch_id="b1",
            lease_ttl=42.0,
            tags={"t": "1"},
            metadata={"m": 1},
            max_workers=3,
        )
        streamed = asyncio.run(_collect(Echo({}).ccall(["c"], backend="fake", lease_ttl=7.0)))
    finally:
        wiring.install(previous)
    assert out == ["fake:a", "fake:b"] and streamed == [(0, "fake:c")]
    first, second = Recording.seen
    assert first["lease_ttl"] == 42.0 and second["lease_ttl"] == 7.0
    assert {k: first[k] for k in ("address", "batch_id", "tags", "metadata", "max_workers")} == {
        "address": "x",
        "batch_id": "b1",
        "tags": {"t": "1"},
        "metadata": {"m": 1},
        "max_workers": 3,
    }


async def _collect(stream: Any) -> List[Tuple[int, Any]]:
    return [item async for item in stream]
