"""`lllm ui` review (session 7b): a replay or fork that needs a tool the project no longer has says so."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from ui_support import UIServer, lllm, record_batch, wait_for, write_project


def test_a_replay_missing_a_tool_names_the_tool_not_a_missing_session(tmp_path: Path):
    project = write_project(tmp_path / "p")
    record_batch(project, "b1", ["plan a trip to Kyoto"])
    (project / "tools/shout.py").unlink()  # the recorded config still lists demo.tools:shout
    ui = UIServer(project)
    try:
        status, body = ui.get("api/sessions?batch=b1")
        sid = body["sessions"][0]["session_id"]
        for path, request in (("replay", {}), ("fork", {"system_prompts": {"editor": "You edit tersely."}})):
            status, r = ui.post(f"api/sessions/{sid}/{path}", request)
            assert status == 422 and "no tool 'demo.tools:shout'" in r["error"], (path, status, r)
        status, r = ui.post("api/sessions/no-such-session/replay", {})
        assert status == 404, r  # a missing session is still 404
    finally:
        ui.close()


SLOW = """
import time
from pathlib import Path

from lllm import Tactic

class Slow(Tactic):
    name = "slow"
    agent_group = ["editor"]

    def call(self, task: str) -> str:
        if Path("slow.flag").exists():  # the replay is stuck (a hung socket, a lock)
            Path("replay.started").write_text("yes")
            time.sleep(600)
        e = self.agents["editor"]
        e.open("main")
        e.receive(task)
        return e.respond().content
"""


def test_ctrl_c_stops_lllm_ui_while_a_replay_is_stuck(tmp_path: Path):
    project = write_project(tmp_path / "p")
    (project / "tactics/slow.py").write_text(SLOW)
    (project / "t.txt").write_text('"hello"\n')
    lllm(project, "batch", "demo.tactics:slow", "t.txt", "--batch-id", "s1", "--store", "sessions.db")
    (project / "slow.flag").write_text("on")
    ui = UIServer(project)
    try:
        status, body = ui.get("api/sessions?batch=s1")
        sid = body["sessions"][0]["session_id"]
        threading.Thread(target=lambda: _quietly(ui.post, f"api/sessions/{sid}/replay", {}), daemon=True).start()
        wait_for(lambda: (project / "replay.started").exists())
        ui.proc.send_signal(signal.SIGINT)
        try:
            ui.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("lllm ui did not stop on Ctrl-C while a replay was running") from None
    finally:
        ui.close()
    assert ui.proc.returncode == 0


def _quietly(fn: Any, *args: Any) -> None:
    with contextlib.suppress(OSError):  # the server went away
        fn(*args)
