"""Batch jobs of ``lllm serve``: ``POST /tactics/{name}/batch`` runs the tasks through the tactic's durable
``ccall`` (keyed by the job id, so posting it again resumes), ``GET /jobs/{id}`` shows a job from memory while
it runs or recently finished, else as its recorded sessions tell it."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

from lllm.core.batch import task_md5
from lllm.core.tactic import use_model
from lllm.serve.answers import InvalidInput, busy, error_answer, json_answer, served_tactic, validate_each
from lllm.serve.calls import STATE, Jobs, TaskOutcomes
from lllm.serve.tactics import ServedTactic, ServeError

TOTAL_TAG = "lllm.serve.batch_total"
TACTIC_TAG = "lllm.serve.tactic"  # the served name, which the session's tactic_name need not be
STARTED_TAG = "lllm.serve.batch_started"


def _batch_request(raw: bytes) -> Tuple[str, List[Any]] | web.Response:
    """The job id and tasks of a batch request, or the 422 answer saying what to send."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return error_answer(422, 'The body is not JSON; send {"tasks": [...], "batch_id": optional}.')
    if not isinstance(body, dict) or not isinstance(body.get("tasks"), list) or not body["tasks"]:
        return error_answer(422, 'Send {"tasks": [task, ...], "batch_id": optional}: a non-empty list of tasks.')
    job_id = body.get("batch_id") or uuid.uuid4().hex
    if not isinstance(job_id, str) or not job_id.strip() or len(job_id) > 200:
        return error_answer(422, "batch_id must be a non-empty string of at most 200 characters.")
    return job_id, body["tasks"]


async def _run_job(t: ServedTactic, jobs: Jobs, job: Dict[str, Any], tasks: List[Any]) -> None:
    """Run a batch job through the tactic's ``ccall``, recording progress, results and how it ended in ``job``."""
    results: List[Any] = [None] * len(tasks)
    tags = {TOTAL_TAG: str(len(tasks)), TACTIC_TAG: t.name, STARTED_TAG: repr(job["started_at"])}
    try:
        with use_model(t.model):
            async for i, r in t.tactic.ccall(
                tasks, batch_id=job["job_id"], return_sessions=True, return_exceptions=True, tags=tags
            ):
                results[i] = (
                    {"index": i, "error": f"{type(r).__name__}: {r}"}
                    if isinstance(r, BaseException)
                    else {"index": i, "result": r.delivery, "session_id": r.session_id}
                )
                job["completed"] += 1
        job["results"] = results
        job["state"] = "done" if not any("error" in r for r in results) else "done_with_errors"
    except asyncio.CancelledError:
        job["state"] = "interrupted"
        raise
    except Exception as e:  # noqa: BLE001 - the job records why it stopped
        job["state"], job["error"] = "failed", f"{type(e).__name__}: {e}"
    finally:
        jobs.finish(job)


async def post_batch(request: web.Request) -> web.StreamResponse:
    """Start (or resume, with the same ``batch_id`` and tasks) a batch; answers 202 with the job id."""
    state, t = request.app[STATE], served_tactic(request)
    if state.store is None:
        raise ServeError("Batches are recorded in the session store; restart the server without --no-save.")
    if state.draining:
        return error_answer(503, "The server is shutting down; retry on another instance.")
    asked = _batch_request(await request.read())
    if isinstance(asked, web.Response):
        return asked
    job_id, raw_tasks = asked
    try:
        tasks = validate_each(t, raw_tasks)
    except InvalidInput as bad:
        return bad.response
    prints = [task_md5(task) for task in tasks]
    running = state.jobs.get(job_id)
    if running is not None and running["state"] == "running":
        if running["tactic"] != t.name or running["_tasks_md5"] != prints:
            what = f"tactic '{running['tactic']}'" if running["tactic"] != t.name else "other tasks"
            return error_answer(409, f"Batch '{job_id}' is running with {what}; give this batch another batch_id.")
        return json_answer(_job_view(running), 202)
    if state.jobs.running() >= state.limits.max_jobs:
        return busy(
            state,
            f"{state.jobs.running()} batch jobs are running, the limit (--max-jobs {state.limits.max_jobs}); "
            f"retry when one has finished (GET /jobs/ID shows progress).",
        )
    job: Dict[str, Any] = {"job_id": job_id, "tactic": t.name, "state": "running", "total": len(tasks)}
    job.update(results=None, error=None, started_at=state.jobs.clock(), completed=0, _tasks_md5=prints)
    state.jobs.start(job)
    task = asyncio.ensure_future(_run_job(t, state.jobs, job, tasks))
    state.job_tasks.add(task)
    task.add_done_callback(state.job_tasks.discard)
    return json_answer({**_job_view(job), "status_url": f"/jobs/{job_id}"}, 202)


def _job_view(job: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in job.items() if v is not None and not k.startswith("_")}


def _recorded(store: Any, job_id: str, outcomes: TaskOutcomes) -> Optional[Dict[str, Any]]:
    """A job as its recorded sessions tell it, in the shape of a finished job here: each task's newest
    success, else its newest failure; ``incomplete`` while a task has neither. ``None`` if nothing is recorded.
    A task's session is loaded once (``outcomes`` keeps what was read)."""
    rows = [
        s
        for s in store.list_sessions(tags={"lllm.batch_id": job_id}, limit=None)  # newest first
        if s.state in ("success", "failure")
    ]
    if not rows:
        return None
    tags = rows[0].tags
    total = int(tags.get(TOTAL_TAG, 0)) or None
    chosen: Dict[int, Any] = {}
    for row in rows:
        i = int(row.tags.get("lllm.batch_index", -1))
        if i < 0 or (total is not None and i >= total):
            continue
        if i not in chosen or (chosen[i].state != "success" and row.state == "success"):
            chosen[i] = row
    results: List[Dict[str, Any]] = []
    ended: List[float] = []
    read, now = outcomes.of(job_id), {}
    for i in sorted(chosen):
        known = read.get(chosen[i].session_id)
        if known is None:
            try:
                session = store.load_session(chosen[i].session_id)
            except (KeyError, ValueError, FileNotFoundError):  # deleted since it was listed: not done
                continue
            outcome: Dict[str, Any] = (
                {"index": i, "result": session.delivery, "session_id": session.session_id}
                if session.state == "success"
                else {"index": i, "error": session.error or "failed"}
            )
            known = (outcome, session.ended_at or 0.0)
        now[chosen[i].session_id] = known
        results.append(known[0])
        ended.append(known[1])
    outcomes.put(job_id, now)
    complete = total is not None and len(results) >= total
    state = "incomplete"
    if complete:
        state = "done" if all("result" in r for r in results) else "done_with_errors"
    started = max((float(r.tags[STARTED_TAG]) for r in rows if STARTED_TAG in r.tags), default=None)
    job = {
        "job_id": job_id,
        "tactic": tags.get(TACTIC_TAG) or rows[0].tactic_name,
        "state": state,
        "total": total,
        "results": results,
        "started_at": started,
        "completed": len(results),
        "ended_at": max(ended) if complete else None,
        "note": None if complete else "Not running here: POST the same tasks with this batch_id to resume.",
    }
    return _job_view(job)


async def get_job(request: web.Request) -> web.StreamResponse:
    """A running or recently finished job as it stands here; any other (finished longer ago, run before a
    restart or by another server) as recorded in the store (resume: POST it again)."""
    state, job_id = request.app[STATE], request.match_info["jid"]
    if state.store is None:
        raise KeyError(f"No job '{job_id}'")
    job = state.jobs.get(job_id)
    if job is not None:
        return json_answer(_job_view(job))
    found = await asyncio.to_thread(_recorded, state.store, job_id, state.outcomes)
    if found is None:
        raise KeyError(f"No job '{job_id}' (no batch with that id was started here or recorded in the store)")
    return json_answer(found)


__all__ = ["get_job", "post_batch", "TOTAL_TAG", "TACTIC_TAG", "STARTED_TAG"]
