"""`lllm ui --token`: any of the ways a request can carry the token is enough. A browser sends the cookie of
another `lllm ui` on the same host (cookies ignore the port) and proxies add their own ``Authorization``; the
printed ``?token=`` link must still open the page, and the page's cookie must still work."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from lllm.logging import sqlite_store
from lllm.ui import create_app
from lllm.ui.server import COOKIE


@pytest.fixture
def store(tmp_path: Any) -> Any:
    s = sqlite_store(tmp_path / "sessions.db")
    yield s
    s.close()


async def test_the_printed_link_works_despite_a_stale_cookie_and_a_proxy_authorization(store):
    server = TestServer(create_app(store, token="new-token"), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
            http.cookie_jar.update_cookies({COOKIE: "token-of-another-ui"}, server.make_url("/"))
            page = await http.get(server.make_url("/?token=new-token"))
            assert page.status == 200, await page.text()
            listed = await http.get(server.make_url("/api/sessions"))  # the cookie the link set
            assert listed.status == 200 and (await listed.json())["sessions"] == []
            proxied = await http.get(server.make_url("/api/sessions"), headers={"Authorization": "Basic dXNlcjpwdw=="})
            assert proxied.status == 200, await proxied.text()
        async with ClientSession() as http:  # a wrong token stays refused, whichever way it comes
            for kw in ({"headers": {"Authorization": "Bearer nope"}}, {"params": {"token": "nope"}}, {}):
                refused = await http.get(server.make_url("/api/sessions"), **kw)
                assert refused.status == 401
            bearer = await http.get(server.make_url("/api/sessions"), headers={"Authorization": "bearer new-token"})
            assert bearer.status == 200
    finally:
        await server.close()
