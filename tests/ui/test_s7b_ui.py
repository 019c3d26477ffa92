"""`lllm ui` review (session 7b): a replay or fork that needs a tool the project no longer has says so."""

from __future__ import annotations

from pathlib import Path

from ui_support import UIServer, record_batch, write_project


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
