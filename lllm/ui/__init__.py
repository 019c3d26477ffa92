"""``lllm ui``: a local web app to browse, replay, fork, compare and export recorded sessions.

``create_app(store)`` builds the aiohttp application; ``lllm.ui.api`` holds the store queries it serves."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(store: Any, token: Any = None, poll_s: float = 1.0, hooks: Any = None) -> Any:
    """The aiohttp application over ``store`` (see ``lllm.ui.server.create_app``)."""
    from lllm.ui.server import create_app as make

    return make(store, token=token, poll_s=poll_s, hooks=hooks)
