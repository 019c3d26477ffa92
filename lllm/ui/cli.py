"""``lllm ui``: serve the session browser over a log store (plugged into ``lllm`` by ``lllm.cli``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import webbrowser
from typing import Any, Optional


def open_any_store(explicit: Optional[str]) -> Any:
    """``--store``: a PostgreSQL DSN (``postgresql://…``), a ``.db`` file or a folder, as ``lllm sessions``."""
    from lllm.logging.cli import open_store, store_path

    path = store_path(explicit)
    if path.startswith(("postgres://", "postgresql://")):
        from lllm.logging import postgres_store

        return postgres_store(path)
    return open_store(explicit, create=False)


def replay_hooks() -> Any:
    """Replay and fork as ``lllm replay`` runs them: the project's runtime, its offline-model rule and
    its ``--override`` parser."""
    from lllm.cli import offline_model, project_runtime
    from lllm.logging.cli import parse_override
    from lllm.ui.api import Hooks

    return Hooks(runtime=project_runtime, offline_model=offline_model, parse_override=parse_override)


def poll_seconds(text: str) -> float:
    """``--poll``: a finite number of seconds above zero (0 or less would re-read the store without pause)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 (e.g. 1 or 0.5)")
    return value


def cmd_ui(args: argparse.Namespace) -> int:
    from lllm.ui.server import check_bind, create_app, serve

    token = args.token or os.environ.get("LLLM_UI_TOKEN") or None
    check_bind(args.host, token)
    store = open_any_store(args.store)
    app = create_app(store, token=token, poll_s=args.poll, hooks=replay_hooks())

    def ready(url: str) -> None:
        shown = f"{url}?token={token}" if token else url
        print(f"lllm ui: serving {store!r} at {shown} (Ctrl-C to stop)", flush=True)
        if args.open:
            webbrowser.open(shown)

    try:
        asyncio.run(serve(app, args.host, args.port, ready))
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    print("lllm ui: stopped", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``ui`` to the ``lllm`` command."""
    p = sub.add_parser(
        "ui",
        help="browse recorded sessions in a local web app (replay, fork, compare, export)",
        description="Serve a local web app over the session store: list and filter sessions, "
        "read one in full, replay it offline, fork it with an edited prompt, compare "
        "two, export one as a single HTML file. New sessions appear live.",
    )
    p.add_argument(
        "--store",
        help="a .db file (SQLite), a folder (JSON) or a postgresql:// DSN (default: $LLLM_STORE or .lllm/sessions.db)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; another needs --token)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.add_argument("--token", help="require this token on every request (default: $LLLM_UI_TOKEN)")
    p.add_argument(
        "--poll",
        type=poll_seconds,
        default=1.0,
        metavar="SECONDS",
        help="how often live pages check the store for new sessions (default 1)",
    )
    p.set_defaults(func=cmd_ui)


__all__ = ["register", "cmd_ui", "open_any_store", "replay_hooks"]
