"""Session 7 review: a synchronous tactic's call that times out keeps running in its thread, so it keeps its
slot (``--max-concurrency``) until it really ends, as ``start_call`` documents."""

from __future__ import annotations

import time

from serve_support import served
from support.pkgtree import write_tree

from lllm.serve.app import Limits, create_app

BLOCKER = {
    "blk/lllm.toml": '[package]\nname = "blk"\n',
    "blk/tactics/blocker.py": '''
        import time
        from pathlib import Path

        from lllm import Tactic


        class Blocker(Tactic):
            """Wait (in its thread) until the file named by the task exists."""
            name = "blocker"

            def call(self, task):
                for _ in range(3000):
                    if Path(task).exists():
                        return "released"
                    time.sleep(0.01)
                return "never released"
    ''',
}


def _in_flight(server) -> int:
    return server.json("GET", "/healthz")[1]["in_flight"]


def test_a_timed_out_sync_call_holds_its_slot_until_its_thread_ends(tmp_path, start):
    write_tree(tmp_path / "pkgs", BLOCKER)
    s = start(create_app(served(tmp_path / "pkgs/blk"), limits=Limits(timeout_s=0.2, max_concurrency=1)))
    flag = tmp_path / "release"
    status, body = s.json("POST", "/tactics/blocker/invoke", str(flag))
    assert status == 504
    assert _in_flight(s) == 1  # its thread still runs
    status, _ = s.json("POST", "/tactics/blocker/invoke", str(flag))
    assert status == 429  # no second thread while the first still runs
    flag.write_text("go")
    for _ in range(500):
        if _in_flight(s) == 0:
            break
        time.sleep(0.01)
    assert _in_flight(s) == 0
