"""Session 7 review: a batch id already running is not silently handed other tasks or another tactic."""

from __future__ import annotations

from serve_support import served

from lllm.serve.app import Limits, create_app


def test_posting_other_tasks_under_a_running_batch_id_is_a_conflict(package_dir, start, store):
    s = start(create_app(served(package_dir, store), store=store, limits=Limits(drain_s=0.5)))
    status, job = s.json("POST", "/tactics/slow/batch", {"tasks": [30], "batch_id": "nightly"})
    assert status == 202 and job["state"] == "running"
    status, again = s.json("POST", "/tactics/slow/batch", {"tasks": [30], "batch_id": "nightly"})
    assert status == 202 and again["job_id"] == "nightly"  # the same request: the running job
    status, body = s.json("POST", "/tactics/slow/batch", {"tasks": [0.1, 0.2], "batch_id": "nightly"})
    assert status == 409 and "'nightly' is running with other tasks" in body["error"]
    status, body = s.json("POST", "/tactics/echo/batch", {"tasks": [{"topic": "a"}], "batch_id": "nightly"})
    assert status == 409 and "tactic 'slow'" in body["error"]
