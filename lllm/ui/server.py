"""The ``lllm ui`` web app on aiohttp: static page, JSON API (``lllm.ui.api``), server-sent events.

Security: it binds to loopback unless a token is set; with a token every request must carry it (header
``Authorization: Bearer T`` or ``X-LLLM-Token``, the ``lllm_ui_token`` cookie, or ``?token=T``, which
sets the cookie). Without a token the ``Host`` header must name a loopback address (no DNS rebinding),
and every POST must come from the page's own origin."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any, Awaitable, Callable, Dict, Optional

from aiohttp import web

from lllm.errors import ConfigError, LLLMError
from lllm.localhttp import bind_refusal, is_loopback, request_refusal
from lllm.ui import api

COOKIE = "lllm_ui_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
STORE_KEY: web.AppKey[Any] = web.AppKey("store", object)
LISTER_KEY: web.AppKey[api.SessionLister] = web.AppKey("lister", api.SessionLister)
TOKEN_KEY: web.AppKey[Optional[str]] = web.AppKey("token", object)  # type: ignore[arg-type]
POLL_KEY: web.AppKey[float] = web.AppKey("poll_s", float)
HOOKS_KEY: web.AppKey[Optional[api.Hooks]] = web.AppKey("hooks", object)  # type: ignore[arg-type]


class UIError(LLLMError, ValueError):
    """``lllm ui`` cannot start as asked (a non-loopback address without a token); says what to do."""


def check_bind(host: str, token: Optional[str]) -> None:
    """Refuse to serve on a non-loopback ``host`` without a token."""
    refusal = bind_refusal(host, token, "read every session", "LLLM_UI_TOKEN")
    if refusal:
        raise UIError(refusal)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False, default=str))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token, host and origin checks; user errors become 4xx JSON ``{"error": message}``."""
    token = request.app[TOKEN_KEY]
    auth = request.headers.get("Authorization", "")
    offered = (  # any one carrying the token will do: a stale cookie of another lllm ui or a proxy's Basic
        request.headers.get("X-LLLM-Token"),  # header must not hide the token of the printed link
        auth[7:].strip() if auth[:7].lower() == "bearer " else None,
        request.cookies.get(COOKIE),
        request.query.get("token"),
    )
    given = next((g for g in offered if g and token and hmac.compare_digest(g.encode(), token.encode())), "")
    refused = request_refusal(
        request,
        token,
        given,
        token_hint="This lllm ui needs its token: open the URL it printed (…?token=T), or send the "
        "header 'Authorization: Bearer T'.",
        host_hint="open the UI at 127.0.0.1 or localhost.",
        post_hint="POST a JSON body (Content-Type: application/json).",
    )
    if refused:
        return _error(*refused)
    try:
        response = await handler(request)
    except api.BadRequest as e:
        return _error(400, str(e))
    except (ConfigError, TypeError) as e:
        return _error(400, str(e))
    except LLLMError as e:  # before KeyError: a missing tool or resource (both KeyErrors) is no missing session
        return _error(422, str(e))
    except KeyError as e:
        return _error(404, str(e.args[0]) if e.args else "not found")
    except web.HTTPException:
        raise
    except Exception as e:  # noqa: BLE001 - a failed replay (the tactic raised) is shown, not a bare 500 page
        return _error(500, f"{type(e).__name__}: {e}")
    if token and request.query.get("token") and request.path == "/":
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
    return response


async def _blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a thread that Ctrl-C does not wait for: a replay still running is left behind."""
    from lllm.core.aio import in_daemon_thread

    return await in_daemon_thread(fn, *args)


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(api.STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def list_sessions(request: web.Request) -> web.StreamResponse:
    query = api.parse_query(request.query)
    return _json(await _blocking(request.app[LISTER_KEY].page, query))


async def get_session(request: web.Request) -> web.StreamResponse:
    return _json(await _blocking(api.session_view, request.app[STORE_KEY], request.match_info["sid"]))


async def _body(request: web.Request) -> Dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise api.BadRequest("The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise api.BadRequest("Send a JSON object.")
    return body


def _hooks(request: web.Request) -> api.Hooks:
    hooks = request.app[HOOKS_KEY]
    if hooks is None:
        raise web.HTTPNotImplemented(
            text=json.dumps(
                {
                    "error": "This app was created without replay hooks: serve it "
                    "with `lllm ui`, or pass hooks=lllm.ui.cli.replay_hooks()."
                }
            ),
            content_type="application/json",
        )
    return hooks


async def post_replay(request: web.Request) -> web.StreamResponse:
    await _body(request)
    return _json(await _blocking(api.replay, request.app[STORE_KEY], request.match_info["sid"], _hooks(request)))


async def post_fork(request: web.Request) -> web.StreamResponse:
    body, store, sid, hooks = await _body(request), request.app[STORE_KEY], request.match_info["sid"], _hooks(request)
    model = body.get("model") or "test"
    if not isinstance(model, str):
        raise api.BadRequest("model must be a string (e.g. 'test' for the offline test model)")

    def run() -> Dict[str, Any]:
        try:
            config = store.load_session(sid).config
        except ValueError as e:
            raise api.BadRequest(str(e)) from None
        prompts = api.fork_prompts(body)
        overrides = api.fork_overrides(body, config, hooks, allow_empty=bool(prompts))
        return api.replay(store, sid, hooks, overrides, None if model == "session" else model, prompts)

    return _json(await _blocking(run))


async def get_prompts(request: web.Request) -> web.StreamResponse:
    store, sid, hooks = request.app[STORE_KEY], request.match_info["sid"], _hooks(request)
    return _json(await _blocking(api.session_prompts, store, sid, hooks))


async def get_compare(request: web.Request) -> web.StreamResponse:
    a, b = request.query.get("a"), request.query.get("b")
    if not a or not b:
        raise api.BadRequest("compare needs two session ids: ?a=SESSION_ID&b=SESSION_ID")
    return _json(await _blocking(api.compare, request.app[STORE_KEY], a, b))


async def get_export(request: web.Request) -> web.StreamResponse:
    sid = request.match_info["sid"]
    page = await _blocking(api.export_html, request.app[STORE_KEY], sid)
    return web.Response(
        text=page,
        content_type="text/html",
        headers={"Content-Disposition": f'attachment; filename="lllm-session-{sid}.html"'},
    )


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``session`` with each session saved from now on (polled from the store);
    ``store-error`` when a poll fails (polling goes on)."""
    lister, poll_s = request.app[LISTER_KEY], request.app[POLL_KEY]
    seen: Dict[str, str] = {}
    await _blocking(lister.since, seen)  # what exists now is not news
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    await response.write(b": connected\n\nevent: ready\ndata: {}\n\n")
    try:
        while True:
            await asyncio.sleep(poll_s)
            try:
                rows = await _blocking(lister.since, seen)
            except Exception as e:  # noqa: BLE001 - the stream is open: say it, poll again (a locked store recovers)
                problem = json.dumps({"error": f"{type(e).__name__}: {e}"}, default=str)
                await response.write(f"event: store-error\ndata: {problem}\n\n".encode())
                rows = []
            for row in rows:
                await response.write(f"event: session\ndata: {json.dumps(row, default=str)}\n\n".encode())
            await response.write(b": ping\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


def create_app(
    store: Any, token: Optional[str] = None, poll_s: float = 1.0, hooks: Optional[api.Hooks] = None
) -> web.Application:
    """The ``lllm ui`` application over ``store`` (a ``LogStore``); replay and fork need ``hooks``."""
    app = web.Application(middlewares=[guard])
    app[STORE_KEY], app[LISTER_KEY], app[TOKEN_KEY], app[POLL_KEY] = store, api.SessionLister(store), token, poll_s
    app[HOOKS_KEY] = hooks
    app.router.add_get("/", index)
    app.router.add_static("/static/", api.STATIC)
    app.router.add_get("/api/sessions", list_sessions)
    app.router.add_get("/api/sessions/{sid}", get_session)
    app.router.add_post("/api/sessions/{sid}/replay", post_replay)
    app.router.add_post("/api/sessions/{sid}/fork", post_fork)
    app.router.add_get("/api/sessions/{sid}/prompts", get_prompts)
    app.router.add_get("/api/sessions/{sid}/export.html", get_export)
    app.router.add_get("/api/compare", get_compare)
    app.router.add_get("/api/events", events)
    return app


async def serve(app: web.Application, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve ``app`` until cancelled; ``on_ready(url)`` once listening (``port=0`` picks a free port)."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)  # live pages hold SSE streams open
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    on_ready(f"http://{f'[{host}]' if ':' in host else host}:{bound}/")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


__all__ = ["create_app", "serve", "check_bind", "is_loopback", "UIError", "COOKIE"]
