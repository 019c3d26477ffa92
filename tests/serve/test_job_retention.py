"""Batch jobs are not kept in memory forever: a running job always stays, finished ones only the newest
``keep_jobs`` for ``keep_jobs_s`` seconds; after that ``GET /jobs/ID`` answers from the store, as it did."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from serve_support import ROOT, served, wait_job

from lllm.serve.app import STATE, Limits, create_app
from lllm.serve.tactics import ServeError


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_finished_jobs_beyond_the_count_are_dropped_oldest_first(package_dir, start, store):
    app = create_app(served(package_dir, store), store=store, limits=Limits(keep_jobs=3), clock=Clock())
    s = start(app)
    for n in range(8):
        assert s.json("POST", "/tactics/echo/batch", {"tasks": [{"topic": f"t{n}"}], "batch_id": f"j{n}"})[0] == 202
        assert wait_job(s, f"j{n}")["state"] == "done"
    jobs = app[STATE].jobs
    assert len(jobs) == 3 and [f"j{n}" in jobs for n in range(8)] == [False] * 5 + [True] * 3
    for n in range(8):  # every one still answers, the dropped ones from the store
        status, job = s.json("GET", f"/jobs/j{n}")
        assert status == 200 and job["state"] == "done" and job["results"][0]["result"]["summary"] == f"t{n}"


def test_an_evicted_job_answers_from_the_store_as_it_did_from_memory(package_dir, start, store):
    clock = Clock()
    app = create_app(served(package_dir, store), store=store, limits=Limits(keep_jobs_s=60), clock=clock)
    s = start(app)
    tasks = [{"topic": "a"}, {"topic": "fail"}, {"topic": "c", "n": 3}]
    s.json("POST", "/tactics/echo/batch", {"tasks": tasks, "batch_id": "mixed"})
    s.json("POST", "/tactics/echo/batch", {"tasks": tasks[::2], "batch_id": "clean"})
    kept = {jid: wait_job(s, jid) for jid in ("mixed", "clean")}
    assert kept["mixed"]["state"] == "done_with_errors" and kept["clean"]["state"] == "done"
    clock.now += 59
    assert s.json("GET", "/jobs/mixed")[1] == kept["mixed"]  # not yet too old: still the one in memory
    clock.now += 2
    for jid, before in kept.items():
        status, after = s.json("GET", f"/jobs/{jid}")
        assert status == 200 and jid not in app[STATE].jobs
        assert isinstance(after.pop("ended_at"), float) and isinstance(before.pop("ended_at"), float)
        assert after == before  # state, tactic, total, completed, started_at, every result and error
    assert len(app[STATE].jobs) == 0
    assert s.json("GET", "/jobs/never-posted")[0] == 404


def test_polling_a_job_answered_from_the_store_loads_each_session_once(package_dir, start, store, monkeypatch):
    clock = Clock()
    app = create_app(served(package_dir, store), store=store, limits=Limits(keep_jobs_s=60), clock=clock)
    s = start(app)
    tasks = [{"topic": "a"}, {"topic": "fail"}, {"topic": "c"}]
    s.json("POST", "/tactics/echo/batch", {"tasks": tasks, "batch_id": "polled"})
    kept = wait_job(s, "polled")
    clock.now += 61  # evicted: answered from the store from now on
    loaded = []
    real = store.load_session
    monkeypatch.setattr(store, "load_session", lambda sid: loaded.append(sid) or real(sid))
    first = s.json("GET", "/jobs/polled")[1]
    assert first["results"] == kept["results"] and len(loaded) == 3
    for _ in range(3):
        assert s.json("GET", "/jobs/polled")[1] == first
    assert len(loaded) == 3  # the later polls read only the index
    store.delete_session(kept["results"][0]["session_id"])  # a deleted task is no longer done, cached or not
    again = s.json("GET", "/jobs/polled")[1]
    assert again["state"] == "incomplete" and [r["index"] for r in again["results"]] == [1, 2]


def test_task_outcomes_are_kept_for_the_last_jobs_answered_only():
    from lllm.serve.calls import TaskOutcomes

    kept = TaskOutcomes(keep=2)
    for job in ("a", "b", "a", "c"):  # "a" answered again: it is the newest, "b" the oldest
        kept.put(job, {f"{job}-s1": ({"index": 0, "result": job}, 1.0)})
    assert kept.of("b") == {} and kept.of("a") and kept.of("c")
    kept.put("a", {})  # an answer whose tasks are all gone keeps nothing of the earlier one
    assert kept.of("a") == {}


def test_a_running_job_is_never_evicted(package_dir, start, store):
    clock = Clock()
    limits = Limits(keep_jobs=0, keep_jobs_s=0, drain_s=0.5)
    app = create_app(served(package_dir, store), store=store, limits=limits, clock=clock)
    s = start(app)
    assert s.json("POST", "/tactics/slow/batch", {"tasks": [30], "batch_id": "long"})[0] == 202
    for n in range(5):
        s.json("POST", "/tactics/echo/batch", {"tasks": [{"topic": "x"}], "batch_id": f"short{n}"})
        assert wait_job(s, f"short{n}")["state"] == "done"
        clock.now += 10_000
    status, job = s.json("GET", "/jobs/long")
    assert status == 200 and job["state"] == "running" and job["completed"] == 0
    assert list(app[STATE].jobs) == ["long"] and app[STATE].jobs.running() == 1
    status, again = s.json("POST", "/tactics/slow/batch", {"tasks": [30], "batch_id": "long"})
    assert status == 202 and again["state"] == "running" and again["started_at"] == job["started_at"]


def test_a_reposted_job_is_kept_again_and_the_limits_are_checked(package_dir, start, store):
    clock = Clock()
    app = create_app(served(package_dir, store), store=store, limits=Limits(keep_jobs=1), clock=clock)
    s = start(app)
    for jid in ("a", "b", "a"):  # "a" finished, dropped for "b", then resumed: kept, "b" dropped
        s.json("POST", "/tactics/echo/batch", {"tasks": [{"topic": "q"}], "batch_id": jid})
        wait_job(s, jid)
        clock.now += 1
    assert list(app[STATE].jobs) == ["a"]
    with pytest.raises(ServeError, match="--keep-jobs must be an integer >= 0"):
        create_app(served(package_dir, store), store=store, limits=Limits(keep_jobs=-1))
    with pytest.raises(ServeError, match="--keep-jobs-for must be seconds >= 0"):
        create_app(served(package_dir, store), store=store, limits=Limits(keep_jobs_s=float("nan")))
    with pytest.raises(ServeError, match="--max-jobs must be an integer >= 1.*got 0"):
        create_app(served(package_dir, store), store=store, limits=Limits(max_jobs=0))


def test_batch_jobs_over_max_jobs_are_answered_429_until_one_finishes(package_dir, start, store):
    limits = Limits(max_jobs=2, retry_after_s=5, drain_s=0.5)
    app = create_app(served(package_dir, store), store=store, limits=limits)
    s = start(app)
    assert s.json("POST", "/tactics/slow/batch", {"tasks": [30], "batch_id": "long"})[0] == 202
    assert s.json("POST", "/tactics/slow/batch", {"tasks": [0.3], "batch_id": "short"})[0] == 202
    status, headers, text = s.request("POST", "/tactics/echo/batch", {"tasks": [{"topic": "x"}], "batch_id": "third"})
    assert status == 429 and headers["Retry-After"] == "5" and "2 batch jobs are running" in text
    assert "--max-jobs 2" in text and "third" not in app[STATE].jobs
    status, again = s.json("POST", "/tactics/slow/batch", {"tasks": [30], "batch_id": "long"})
    assert status == 202 and again["state"] == "running"  # a running job reposted still answers its progress
    assert wait_job(s, "short")["state"] == "done"
    assert s.json("POST", "/tactics/echo/batch", {"tasks": [{"topic": "x"}], "batch_id": "third"})[0] == 202
    assert wait_job(s, "third")["state"] == "done"
    assert "lllm_serve_rejected_total 1" in s.request("GET", "/metrics")[2]


def test_the_cli_flags_reach_the_server(package_dir, tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LLLM_HOME": str(tmp_path / "h")}
    argv = [sys.executable, "-m", "lllm.cli", "serve", str(package_dir), "--port", "0", "--no-save"]
    done = subprocess.run([*argv, "--keep-jobs", "-2"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "--keep-jobs must be an integer >= 0" in done.stderr and "-2" in done.stderr
    done = subprocess.run([*argv, "--keep-jobs-for", "-5"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "--keep-jobs-for must be seconds >= 0" in done.stderr and "-5" in done.stderr
    done = subprocess.run([*argv, "--max-jobs", "0"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "--max-jobs must be an integer >= 1" in done.stderr
