"""Access rules shared by LLLM's local HTTP servers (``lllm ui``, ``lllm serve``): loopback unless a token.

Without a token a server binds to loopback only and every request's ``Host`` must name a loopback address
(no DNS rebinding); with one, every request must carry it. POSTs must be same-origin JSON, so a web page
the user visits cannot drive a local server."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Optional, Tuple

from aiohttp import web


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address, IPv6 possibly in brackets) is this machine only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, token: Optional[str], exposes: str, env_var: str) -> Optional[str]:
    """Why binding ``host`` without a token is refused (``exposes``: what a stranger could do), or ``None``."""
    if is_loopback(host) or token:
        return None
    return (
        f"Refusing to serve on {host!r} without a token: anyone who can reach it could {exposes}. "
        f"Set --token T (or {env_var}), or bind to 127.0.0.1."
    )


def request_refusal(
    request: web.Request, token: Optional[str], given: str, token_hint: str, host_hint: str, post_hint: str
) -> Optional[Tuple[int, str]]:
    """``(status, message)`` refusing ``request``, or ``None``: the token (``given`` is what it carried) or,
    without one, a loopback ``Host``; then, for a POST, the same origin and a JSON body."""
    if token:
        if not hmac.compare_digest(given.encode(), token.encode()):
            return 401, token_hint
    elif not is_loopback(request.url.host or ""):
        return 403, f"Host {request.host!r} is not a loopback address; {host_hint}"
    if request.method == "POST":
        origin = request.headers.get("Origin")
        if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
            return 403, f"Cross-origin request from {origin!r} refused."
        if request.content_type != "application/json":
            return 415, post_hint
    return None


__all__ = ["is_loopback", "bind_refusal", "request_refusal"]
