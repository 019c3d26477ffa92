"""``close()`` from another thread while code runs (review session 7): an async tactic that ends (or is
cancelled) closes its agents' sandboxes on the event loop while ``run_python`` is still running in a worker
thread; ``close()`` waited for that code to finish (up to the sandbox timeout), blocking the loop."""

from __future__ import annotations

import sys
import threading

import pytest

from lllm.sandbox import BwrapExecutor, SubprocessExecutor, bwrap_status

BWRAP_OK, BWRAP_WHY = bwrap_status()
BACKENDS = [
    pytest.param(SubprocessExecutor, marks=pytest.mark.skipif(sys.platform != "linux", reason="Linux sandboxes")),
    pytest.param(
        BwrapExecutor, marks=pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap is not usable: {BWRAP_WHY}")
    ),
]


@pytest.mark.parametrize("cls", BACKENDS)
def test_close_stops_a_run_in_progress_instead_of_waiting_for_it(cls):
    ex = cls()
    started = threading.Event()

    def api(path, params):
        started.set()
        return None

    results = []
    runner = threading.Thread(
        target=lambda: results.append(
            ex.run("CALL_API('started', {})\nimport time\ntime.sleep(120)", timeout=300, api=api)
        )
    )
    runner.start()
    try:
        assert started.wait(30), "the code did not start"
        closer = threading.Thread(target=ex.close)
        closer.start()
        closer.join(30)
        assert not closer.is_alive(), "close() waited for the running code (120 s) to finish"
        runner.join(30)
        assert results and results[0].status == "crashed" and "closed" in results[0].detail
        assert ex.pid is None
        assert ex.run("print('again')", timeout=30, api=None).output == "again\n"  # usable after close
    finally:
        ex.close()
        runner.join(1)
