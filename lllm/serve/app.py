"""The ``lllm serve`` HTTP app on aiohttp: typed tactic calls, server-sent events, sessions, metrics, and the app's
lifecycle (batch jobs are in ``batches``, what every answer goes through in ``answers``).

Security follows ``lllm ui``: without a token it binds to loopback only and the ``Host`` header must
name a loopback address; with one, every request but ``/healthz`` must carry ``Authorization: Bearer T``
(or ``X-LLLM-Token``). A POST must be JSON (``Content-Type: application/json``, which a cross-site page
cannot send without a CORS preflight this server never grants) and not from another origin. Every body
it sends is scrubbed of known credentials (``lllm.secrets``)."""

from __future__ import annotations

import asyncio
import copy
import hmac
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from aiohttp import web

from lllm.core import events as ev
from lllm.core.aio import within
from lllm.core.stream import BaseStreamHandler
from lllm.localhttp import bind_refusal, request_refusal
from lllm.serve.answers import (
    InvalidInput,
    busy,
    dumps,
    error_answer,
    json_answer,
    parse_task,
    refresh_secrets,
    served_tactic,
)
from lllm.serve.batches import get_job, post_batch
from lllm.serve.calls import STATE, Jobs, Limits, State, failure_body, start_call
from lllm.serve.mcp import add_mcp_routes
from lllm.serve.tactics import ServedTactic, ServeError, openapi

logger = logging.getLogger("lllm.serve")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cost_of(session: Any) -> Dict[str, Any]:
    c = session.total_cost
    return {
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "usd": round(c.cost, 8),
        "agent_calls": session.agent_call_count,
    }


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token and host checks, then user errors as JSON; nothing unscrubbed leaves."""
    state = request.app[STATE]
    if request.path != "/healthz":  # health checks need no token
        auth = request.headers.get("Authorization", "").strip()
        scheme, _, credential = auth.partition(" ")  # the scheme is case-insensitive (RFC 9110)
        offered = (  # any one carrying the token will do: a proxy's Basic header must not hide X-LLLM-Token
            credential.strip() if scheme.lower() == "bearer" else auth,
            request.headers.get("X-LLLM-Token"),
        )
        token = state.token or ""
        given = next((g for g in offered if g and hmac.compare_digest(g.encode(), token.encode())), "")
        refused = request_refusal(
            request,
            state.token,
            given,
            token_hint="This server needs its token: send the header 'Authorization: Bearer T' "
            "(the --token or LLLM_SERVE_TOKEN it was started with).",
            host_hint="use 127.0.0.1 or localhost, or start the server with --token.",
            post_hint="POST a JSON body with the header 'Content-Type: application/json'.",
        )
        if refused:
            return error_answer(*refused)
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return error_answer(
            413, f"The request body is over the limit of {state.limits.max_body_bytes} bytes (--max-body)."
        )
    except web.HTTPException:
        raise
    except ServeError as e:
        return error_answer(400, str(e))
    except KeyError as e:
        return error_answer(404, str(e.args[0]) if e.args else "not found")
    except Exception as e:  # noqa: BLE001 - an unexpected failure is a JSON 500, scrubbed like every body
        logger.warning("lllm serve: %s %s failed", request.method, request.path, exc_info=True)
        return error_answer(500, f"{type(e).__name__}: {e}")


def _full(state: State) -> Optional[web.Response]:
    """A 503 while draining, a 429 with Retry-After when every slot is taken, else ``None``."""
    if state.draining:
        return error_answer(503, "The server is shutting down; retry on another instance.")
    if len(state.in_flight) >= state.limits.max_concurrency:
        return busy(
            state,
            f"{len(state.in_flight)} calls are in flight, the limit (--max-concurrency "
            f"{state.limits.max_concurrency}); retry later.",
        )
    return None


def _success(t: ServedTactic, state: State, session: Any) -> Dict[str, Any]:
    cost = cost_of(session)
    state.metrics.usage(t.name, cost["prompt_tokens"], cost["completion_tokens"], cost["usd"])
    return {"tactic": t.name, "result": session.delivery, "session_id": session.session_id, "cost": cost}


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    return json_answer(
        {
            "status": "draining" if state.draining else "ok",
            "tactics": len(state.tactics),
            "in_flight": len(state.in_flight),
        },
        503 if state.draining else 200,
    )


async def list_tactics(request: web.Request) -> web.StreamResponse:
    return json_answer({"tactics": [t.describe() for t in request.app[STATE].tactics.values()]})


async def get_openapi(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    return json_answer(openapi(list(state.tactics.values()), token=bool(state.token)))


async def get_metrics(request: web.Request) -> web.StreamResponse:
    return web.Response(
        text=request.app[STATE].metrics.render(), content_type="text/plain", headers={"X-Prometheus-Format": "0.0.4"}
    )


async def invoke(request: web.Request) -> web.StreamResponse:
    state, t, started = request.app[STATE], served_tactic(request), time.perf_counter()
    status = 200
    try:
        try:
            task = parse_task(t, await request.read())
        except InvalidInput as bad:
            state.metrics.error(t.name, "invalid_input")
            status = 422
            return bad.response
        except web.HTTPRequestEntityTooLarge:
            status = 413
            raise
        full = _full(state)
        if full is not None:
            state.metrics.error(t.name, "rejected")
            status = full.status
            return full
        call_started = time.perf_counter()
        fut = start_call(state, t, task)
        try:
            session = await within(asyncio.shield(fut), state.limits.timeout_s)
            call_s = time.perf_counter() - call_started
        except asyncio.TimeoutError:
            fut.cancel()  # an async call stops; a sync one ends in its thread, still counted in flight
            state.metrics.error(t.name, "timeout")
            status = 504
            return error_answer(
                504, f"Tactic '{t.name}' did not finish within {state.limits.timeout_s:g} s (--timeout)."
            )
        except asyncio.CancelledError:
            fut.cancel()  # the client went away: its call stops and frees its slot
            state.metrics.error(t.name, "disconnected")
            status = 499
            raise
        except Exception as e:  # noqa: BLE001 - the tactic's failure is the answer
            state.metrics.error(t.name, "tactic_error")
            status = 500
            return json_answer(failure_body(t, e), 500)
        answer = json_answer(_success(t, state, session))
        state.metrics.server_time(t.name, time.perf_counter() - started - call_s)
        return answer
    finally:
        state.metrics.observe(t.name, "invoke", status, time.perf_counter() - started)


class _Events(BaseStreamHandler):
    """The call's live events and model text deltas, queued for the event stream (thread-safe: agents and
    tools may run in other threads)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: "asyncio.Queue[Any]"):
        self.loop, self.queue = loop, queue

    def _put(self, event: str, data: Dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (event, data))

    def on_token(self, text: str) -> None:
        self._put("token", {"text": text})

    def on_event(self, event: ev.Event) -> None:
        item = sse_event(event)
        if item is not None:
            self._put(*item)


def sse_event(e: ev.Event) -> Optional[Tuple[str, Dict[str, Any]]]:
    """``(event, data)`` of the stream for a live call event; ``tactic`` names the tactic call it happened in."""
    if isinstance(e, ev.AgentCallStarted):
        return "agent_started", {"tactic": e.tactic, "agent": e.agent, "model": e.model}
    if isinstance(e, ev.AgentCallFinished):
        cost = {"prompt_tokens": e.prompt_tokens, "completion_tokens": e.completion_tokens, "usd": e.cost}
        data = {"agent": e.agent, "model": e.model, "state": e.state, "invokes": e.invokes, "reason": e.reason}
        return "agent_call", {"tactic": e.tactic, **data, "error": e.error, "cost": cost}
    if isinstance(e, ev.InvokeFinished):
        return "invoke", {
            "tactic": e.tactic,
            "agent": e.agent,
            "step": e.step,
            "attempt": e.attempt,
            "latency_s": e.latency_s,
            "prompt_tokens": e.prompt_tokens,
            "completion_tokens": e.completion_tokens,
            "usd": e.cost,
            "error": e.error,
        }
    if isinstance(e, ev.RetryScheduled):
        data = {"agent": e.agent, "step": e.step, "kind": e.kind, "delay_s": e.delay_s, "error": e.error}
        return "retry", {"tactic": e.tactic, **data}
    if isinstance(e, ev.ToolCallStarted):
        data = {"agent": e.agent, "step": e.step, "id": e.id, "name": e.name, "arguments": e.arguments}
        return "tool_call", {"tactic": e.tactic, **data}
    if isinstance(e, ev.ToolCallFinished):
        data = {"agent": e.agent, "step": e.step, "id": e.id, "name": e.name, "result": e.result, "error": e.error}
        return "tool_result", {"tactic": e.tactic, **data}
    if isinstance(e, ev.SubTacticStarted):
        return "sub_tactic_started", {"parent": e.tactic, "name": e.name, "tactic": e.sub_tactic}
    if isinstance(e, ev.SubTacticFinished):
        return "sub_tactic", {
            "parent": e.tactic,
            "name": e.name,
            "tactic": e.sub_tactic,
            "state": e.state,
            "agent_calls": e.agent_calls,
            "usd": e.cost,
            "error": e.error,
            "session_id": e.session_id,
        }
    return None


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {dumps(data)}\n\n".encode()


def _refused(state: State, t: ServedTactic, started: float, why: str, status: int) -> None:
    """Count a stream the server refused before it started."""
    state.metrics.error(t.name, why)
    state.metrics.observe(t.name, "stream", status, time.perf_counter() - started)


async def _relay(
    response: web.StreamResponse,
    queue: "asyncio.Queue[Any]",
    fut: "asyncio.Future[Any]",
    t: ServedTactic,
    timeout_s: float,
) -> str:
    """Write the call's events as they come: ``"ok"`` when it ends, ``"timeout"`` (the call cancelled) if it
    outlives ``--timeout``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            item = await within(queue.get(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            fut.cancel()
            error = f"Tactic '{t.name}' did not finish within {timeout_s:g} s (--timeout)."
            await response.write(_sse("error", {"error": error, "type": "Timeout"}))
            return "timeout"
        if item is None:
            return "ok"
        await response.write(_sse(*item))


async def _conclude(response: web.StreamResponse, fut: "asyncio.Future[Any]", t: ServedTactic, state: State) -> str:
    """Write how the call ended (``result`` or ``error``) and return the outcome to count."""
    if fut.cancelled():
        await response.write(_sse("error", {"error": "The call was cancelled.", "type": "Cancelled"}))
        return "cancelled"
    if fut.exception() is not None:
        await response.write(_sse("error", failure_body(t, fut.exception())))  # type: ignore[arg-type]
        return "tactic_error"
    await response.write(_sse("result", _success(t, state, fut.result())))
    return "ok"


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``started``, then as they happen ``token``, ``invoke``, ``agent_started``/``agent_call``,
    ``retry``, ``tool_call``/``tool_result`` and ``sub_tactic_started``/``sub_tactic``; then ``result`` or ``error``."""
    state, t, started = request.app[STATE], served_tactic(request), time.perf_counter()
    try:
        task = parse_task(t, await request.read())
    except InvalidInput as bad:
        _refused(state, t, started, "invalid_input", 422)
        return bad.response
    full = _full(state)
    if full is not None:
        _refused(state, t, started, "rejected", full.status)
        return full
    queue: "asyncio.Queue[Any]" = asyncio.Queue()
    tactic = copy.copy(t.tactic)  # the same configuration, its agents streaming to this request
    tactic.stream = live = _Events(asyncio.get_running_loop(), queue)
    fut = start_call(state, t, task, tactic, on_event=live.on_event)
    fut.add_done_callback(lambda _: queue.put_nowait(None))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    outcome = "ok"
    try:
        await response.prepare(request)
        await response.write(_sse("started", {"tactic": t.name, "task": task}))
        outcome = await _relay(response, queue, fut, t, state.limits.timeout_s)
        if outcome == "ok":
            outcome = await _conclude(response, fut, t, state)
    except (ConnectionResetError, asyncio.CancelledError):
        fut.cancel()  # the client went away
        outcome = "disconnected"
    finally:
        if outcome != "ok":
            state.metrics.error(t.name, outcome)
        state.metrics.observe(t.name, "stream", 200 if outcome == "ok" else 500, time.perf_counter() - started)
    return response


async def get_session(request: web.Request) -> web.StreamResponse:
    store = request.app[STATE].store
    if store is None:
        raise ServeError("This server records no sessions (started with --no-save); restart it with --store PATH.")
    sid = request.match_info["sid"]
    try:
        session = await asyncio.to_thread(store.load_session, sid)
    except (KeyError, ValueError, FileNotFoundError):
        raise KeyError(f"No session '{sid}' in the store") from None
    return json_answer(session.model_dump(mode="json"))


# ---------------------------------------------------------------------------------------------
# The application and its lifecycle
# ---------------------------------------------------------------------------------------------


def create_app(
    tactics: List[ServedTactic],
    store: Any = None,
    token: Optional[str] = None,
    limits: Optional[Limits] = None,
    mcp: bool = True,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The ``lllm serve`` application for ``tactics`` (sessions saved by each tactic's own log store;
    ``store`` answers ``/sessions`` and ``/jobs``); ``clock`` times batch jobs and how long finished ones are kept."""
    limits = limits or Limits()
    if isinstance(limits.keep_jobs, bool) or not isinstance(limits.keep_jobs, int) or limits.keep_jobs < 0:
        raise ServeError(
            f"--keep-jobs must be an integer >= 0 (finished jobs kept in memory), got {limits.keep_jobs!r}"
        )
    if isinstance(limits.max_jobs, bool) or not isinstance(limits.max_jobs, int) or limits.max_jobs < 1:
        raise ServeError(f"--max-jobs must be an integer >= 1 (batch jobs running at once), got {limits.max_jobs!r}")
    if not limits.keep_jobs_s >= 0:
        raise ServeError(
            f"--keep-jobs-for must be seconds >= 0 (how long a finished job is kept), got {limits.keep_jobs_s!r}"
        )
    refresh_secrets()
    by_name: Dict[str, ServedTactic] = {}
    for t in tactics:
        if t.name in by_name:
            raise ServeError(f"Two tactics are served as '{t.name}'; serve one package at a time or rename one.")
        by_name[t.name] = t
    app = web.Application(middlewares=[guard], client_max_size=limits.max_body_bytes)
    state = app[STATE] = State(by_name, store, token, limits, jobs=Jobs(limits.keep_jobs, limits.keep_jobs_s, clock))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/tactics", list_tactics)
    app.router.add_get("/openapi.json", get_openapi)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_post("/tactics/{name}/invoke", invoke)
    app.router.add_post("/tactics/{name}/stream", stream)
    app.router.add_post("/tactics/{name}/batch", post_batch)
    app.router.add_get("/sessions/{sid}", get_session)
    app.router.add_get("/jobs/{jid}", get_job)
    if mcp:
        add_mcp_routes(app, state)

    async def stop_jobs(app: web.Application) -> None:
        for task in list(state.job_tasks):
            task.cancel()  # a batch resumes from its records when posted again
        await asyncio.gather(*state.job_tasks, return_exceptions=True)

    app.on_shutdown.append(stop_jobs)
    return app


async def drain(app: web.Application) -> int:
    """Refuse new calls and wait up to ``drain_s`` for those in flight; returns how many were cut off."""
    state = app[STATE]
    state.draining = True
    pending = list(state.in_flight)
    if pending:
        _, left = await asyncio.wait(pending, timeout=state.limits.drain_s)
        for fut in left:
            fut.cancel()
        return len(left)
    return 0


async def serve(
    app: web.Application, host: str, port: int, on_ready: Callable[[str], None], stop: Optional[asyncio.Event] = None
) -> None:
    """Serve ``app`` until ``stop`` is set (or cancelled), then drain in-flight calls and close."""
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=app[STATE].limits.drain_s + 1,
        handler_cancellation=True,  # a client that goes away cancels its handler, and so its call
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = runner.addresses[0][1]
    on_ready(f"http://{f'[{host}]' if ':' in host else host}:{bound}")
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        cut = await drain(app)
        if cut:
            logger.warning(
                "lllm serve: %d call(s) still running after %gs were cancelled", cut, app[STATE].limits.drain_s
            )
        await runner.cleanup()


def check_bind(host: str, token: Optional[str]) -> None:
    """Refuse to serve on a non-loopback ``host`` without a token."""
    refusal = bind_refusal(host, token, "run the tactics on your model keys", "LLLM_SERVE_TOKEN")
    if refusal:
        raise ServeError(refusal)


__all__ = [
    "create_app",
    "serve",
    "drain",
    "check_bind",
    "Limits",
    "State",
    "STATE",
    "sse_event",
    "dumps",
    "parse_task",
    "cost_of",
]
