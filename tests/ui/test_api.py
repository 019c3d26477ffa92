"""The `lllm ui` JSON API over real stores: paging, filters, auth, refusals, replay and fork, export, live events."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List

import pytest
from aiohttp.test_utils import TestClient, TestServer
from ui_support import REVIEW, UIServer, lllm

from lllm.core.aio import timeout_at
from lllm.logging import sqlite_store
from lllm.ui import create_app
from lllm.ui.server import check_bind, is_loopback


# ---------------------------------------------------------------------------------------------
# In-process app over a copy of the recorded sessions (real SQLite store, real HTTP on 127.0.0.1)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def many(project: Path, tmp_path: Path) -> Any:
    """60 sessions: the recorded ones re-saved at known times (25 share one timestamp), with tags."""
    src = sqlite_store(project / "sessions.db")
    recorded = [src.load_session(r.session_id) for r in src.list_sessions(tags={"lllm.batch_id": "b1"})]
    src.close()
    store = sqlite_store(tmp_path / "many.db")
    base = datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()
    for i in range(60):
        s = recorded[i % len(recorded)].model_copy(deep=True)
        s.started_at = base + (0 if i < 25 else i * 3600)
        store.save_session(s, tags={"n": str(i), "parity": "even" if i % 2 == 0 else "odd"})
    yield store
    store.close()


async def _client(store: Any, **kw: Any) -> TestClient:
    client = TestClient(TestServer(create_app(store, **kw), host="127.0.0.1"))
    await client.start_server()
    return client


async def _pages(client: TestClient, query: str) -> List[List[dict]]:
    pages, cursor = [], None
    while True:
        r = await client.get(f"/api/sessions?{query}" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status == 200, await r.text()
        body = await r.json()
        pages.append(body["sessions"])
        cursor = body["next"]
        if not cursor:
            return pages


async def test_keyset_paging_visits_every_session_once_in_order_even_with_shared_timestamps(many):
    client = await _client(many)
    try:
        pages = await _pages(client, "limit=7&preview=0")
        rows = [r for p in pages for r in p]
        assert len(rows) == 60 and len({r["session_id"] for r in rows}) == 60
        assert [len(p) for p in pages][:-1] == [7] * 8 and len(pages[-1]) == 4
        keys = [(r["timestamp"], r["session_id"]) for r in rows]
        assert keys == sorted(keys, reverse=True)
        by_cost = [r for p in await _pages(client, "limit=25&sort=oldest") for r in p]
        assert [r["session_id"] for r in by_cost] == [r["session_id"] for r in reversed(rows)]
    finally:
        await client.close()


def _other_store(kind: str, tmp_path: Path) -> Any:
    import os
    import uuid

    from lllm.logging import local_store, postgres_store

    if kind == "json":
        return local_store(tmp_path / "json-store")
    dsn = os.environ.get("LLLM_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'lllm[postgres]')")
    return postgres_store(dsn, partition=f"ui_{uuid.uuid4().hex[:10]}")


@pytest.mark.parametrize("kind", ["json", "postgres"])
async def test_paging_and_filters_over_the_json_and_postgres_stores(many, kind, tmp_path):
    store = _other_store(kind, tmp_path)
    for row in many.list_sessions(limit=12):
        store.save_session(many.load_session(row.session_id), tags={"parity": row.tags["parity"]})
    client = await _client(store)
    try:
        rows = [r for p in await _pages(client, "limit=5&preview=0") for r in p]
        assert [r["session_id"] for r in rows] == [r.session_id for r in store.list_sessions(limit=None)]
        odd = [r for p in await _pages(client, "tag=parity=odd&q=a&limit=2") for r in p]
        assert odd and {r["tags"]["parity"] for r in odd} == {"odd"} and all("a" in r["task"] for r in odd)
    finally:
        await client.close()
        store.close()


async def test_filters_combine_and_match_the_store(many):
    client = await _client(many)
    try:

        async def ids(query: str) -> set:
            return {r["session_id"] for p in await _pages(client, query) for r in p}

        everything = await ids("limit=500")
        assert len(await ids("tag=parity=even&limit=9")) == 30
        failed = await ids("state=failure")
        assert len(failed) == 15 and failed < everything  # every fourth re-saved session is the failed one
        assert await ids("tactic=duo") == await ids("tactic=demo::duo") == everything
        assert await ids("tactic=other") == set()
        assert len(await ids("after=2026-03-02&limit=5")) == 35  # sessions 25..59 start a day or more later
        assert len(await ids("before=2026-03-01")) == 25  # a bare date as upper bound is the whole day
        kyoto = await ids("q=KYOTO&limit=3")
        assert len(kyoto) == 15
        assert (
            await ids("model=test") == everything - failed and await ids("model=gpt-4") == set()
        )  # failed: no agent ran
        assert await ids("max_cost=0") == everything and await ids("min_cost=0.5") == set()
        r = await client.get("/api/sessions?q=kyoto&limit=1")
        row = (await r.json())["sessions"][0]
        assert row["task"] == "plan a trip to Kyoto" and row["models"] == ["test"] and row["tags"]["parity"]
    finally:
        await client.close()


@pytest.mark.parametrize(
    "query, message",
    [
        ("limit=0", "limit='0': send an integer from 1 to 500"),
        ("limit=abc", "limit='abc'"),
        ("sort=random", "sort='random' is not one of"),
        ("after=yesterday", "after='yesterday' is not an ISO-8601 time"),
        ("tag=novalue", "tag='novalue': send tags as KEY=VALUE"),
        ("state=done", "state='done' is not one of"),
        ("min_cost=cheap", "min_cost='cheap' is not a number"),
        ("cursor=garbage", "cursor='garbage' is not a list cursor"),
    ],
)
async def test_bad_list_parameters_are_400_naming_the_parameter(many, query, message):
    client = await _client(many)
    try:
        r = await client.get(f"/api/sessions?{query}")
        assert r.status == 400 and message in (await r.json())["error"]
    finally:
        await client.close()


async def test_unknown_or_invalid_session_ids_and_bad_posts(many):
    client = await _client(many)
    try:
        r = await client.get("/api/sessions/20990101_000000_00000000")
        assert r.status == 404 and "No session '20990101_000000_00000000'" in (await r.json())["error"]
        r = await client.get("/api/sessions/bad%20id")
        assert r.status == 400 and "Invalid session id" in (await r.json())["error"]
        r = await client.post("/api/sessions/x/replay", data="{}")
        assert r.status == 415 and "application/json" in (await r.json())["error"]
        r = await client.post("/api/sessions/x/replay", data="{", headers={"Content-Type": "application/json"})
        assert r.status == 400 and "not JSON" in (await r.json())["error"]
        r = await client.get("/api/compare?a=x")
        assert r.status == 400 and "two session ids" in (await r.json())["error"]
        r = await client.post("/api/sessions/x/replay", json={})  # an app built without the CLI's replay hooks
        assert r.status == 501 and "replay_hooks()" in (await r.json())["error"]
    finally:
        await client.close()


async def test_token_is_required_on_every_request_and_the_page_link_sets_a_cookie(many):
    client = await _client(many, token="s3cret")
    try:
        for path in ("/", "/api/sessions", "/static/app.js", "/api/events"):
            r = await client.get(path)
            assert r.status == 401 and "needs its token" in (await r.json())["error"]
        assert (await client.get("/api/sessions", headers={"Authorization": "Bearer wrong"})).status == 401
        assert (await client.get("/api/sessions", headers={"Authorization": "Bearer s3cret"})).status == 200
        assert (await client.get("/api/sessions", headers={"X-LLLM-Token": "s3cret"})).status == 200
        r = await client.get("/?token=s3cret")
        assert r.status == 200 and "httponly" in r.headers["Set-Cookie"].lower()
        assert (await client.get("/api/sessions")).status == 200  # the cookie now carries it
    finally:
        await client.close()


async def test_without_a_token_only_loopback_hosts_and_same_origin_posts_are_served(many):
    client = await _client(many)
    try:
        r = await client.get("/api/sessions", headers={"Host": "attacker.example:8765"})
        assert r.status == 403 and "not a loopback address" in (await r.json())["error"]
        r = await client.post("/api/sessions/x/replay", json={}, headers={"Origin": "http://attacker.example"})
        assert r.status == 403 and "Cross-origin" in (await r.json())["error"]
    finally:
        await client.close()


def test_ctrl_c_stops_the_server_promptly_while_a_live_page_listens(project):
    import signal
    import urllib.request

    ui = UIServer(project)
    stream = urllib.request.urlopen(ui.url + "api/events", timeout=10)
    assert b": connected" in stream.readline()
    ui.proc.send_signal(signal.SIGINT)
    assert ui.proc.wait(timeout=30) == 0  # aiohttp's default would wait 60 s for the open stream
    stream.close()
    ui.close()
    out = lllm(project, "ui", "--store", "missing.db", ok=False)
    assert "No session store at 'missing.db'" in out.stderr


def test_non_loopback_bind_needs_a_token(project):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    with pytest.raises(ValueError, match="Refusing to serve on '0.0.0.0' without a token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "t")
    out = lllm(project, "ui", "--store", "sessions.db", "--host", "0.0.0.0", ok=False)
    assert "Refusing to serve on '0.0.0.0' without a token" in out.stderr and "LLLM_UI_TOKEN" in out.stderr


async def test_new_sessions_are_pushed_as_server_sent_events(many):
    client = await _client(many, poll_s=0.05)
    try:
        resp = await client.get("/api/events")
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert b"event: ready" in await resp.content.readuntil(b"event: ready\ndata: {}\n\n")
        old = many.load_session(many.list_sessions(limit=1)[0].session_id)
        old.started_at = datetime.now(timezone.utc).timestamp() - 60  # dated before the newest: still news
        sid = many.save_session(old, tags={"live": "yes"})
        data = b""
        async with timeout_at(asyncio.get_running_loop().time() + 10):
            while b"event: session" not in data:
                data += await resp.content.readline()
            data += await resp.content.readline()
        row = json.loads(data.split(b"event: session\ndata: ", 1)[1])
        assert row["session_id"] == sid and row["tags"]["live"] == "yes"
        resp.close()
    finally:
        await client.close()


async def test_session_view_export_is_self_contained_and_escapes_the_data(many):
    row = next(r for r in many.list_sessions(limit=None) if "pwned" in str(many.load_session(r.session_id).task))
    client = await _client(many)
    try:
        view = await (await client.get(f"/api/sessions/{row.session_id}")).json()
        drafter = view["tree"]["agents"][0]
        assert drafter["name"] == "drafter" and drafter["tool_calls"][0]["name"] == "shout"
        assert drafter["invokes"][0]["messages"] and view["per_agent"][0]["invokes"] >= 1
        assert {d["alias"] for d in view["tree"]["dialogs"]} == {"main"}
        r = await client.get(f"/api/sessions/{row.session_id}/export.html")
        page = await r.text()
        assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
        assert "window.pwned" in page and "</script><script>window.pwned" not in page
        assert 'src="static/' not in page and 'href="static/' not in page
        body = page.split("</title>")[1]  # nothing loads from the network (app.js may mention http(s) URLs)
        assert not re.search(r"""(src|href)\s*=\s*["']?https?:|url\(\s*["']?https?:|@import""", body)
    finally:
        await client.close()


# ---------------------------------------------------------------------------------------------
# Replay and fork through the real `lllm ui` (it loads the project's tactic, as `lllm replay` does)
# ---------------------------------------------------------------------------------------------
def _first(server: UIServer, query: str) -> dict:
    status, body = server.get(f"api/sessions?{query}")
    assert status == 200, body
    return body["sessions"][0]


def test_replay_reproduces_and_fork_links_parent_and_child(server):
    sid = _first(server, "q=Kyoto&batch=b1")["session_id"]
    status, r = server.post(f"api/sessions/{sid}/replay", {})
    assert status == 200 and r["reproduced"] is True and r["replayed_calls"] == 3 and r["replay_of"] == sid
    status, f = server.post(f"api/sessions/{sid}/fork", {"system_prompts": {"editor": "You edit tersely."}})
    assert status == 200, f
    assert (
        f["mode"] == "fork"
        and f["diverged_at"]["agent"] == "editor"
        and '+   "content": "You edit tersely."' in f["diff"]
    )
    status, child = server.get(f"api/sessions/{f['session_id']}")
    assert child["replay_of"] == sid and child["tags"]["lllm.replay_of"] == sid
    replayed = {t["agent"]: t["replayed"] for t in child["invokes"]}  # answers from the recording are marked
    assert replayed["editor"] is False and any(replayed.values())
    assert all(t["replayed"] for t in server.get(f"api/sessions/{r['session_id']}")[1]["invokes"])
    assert not any(t["replayed"] for t in server.get(f"api/sessions/{sid}")[1]["invokes"])
    status, parent = server.get(f"api/sessions/{sid}")
    assert {c["session_id"] for c in parent["children"]} == {r["session_id"], f["session_id"]}
    status, cmp = server.get(f"api/compare?a={sid}&b={f['session_id']}")
    dialog = next(d for d in cmp["diffs"] if d["what"] == "dialog editor/main")
    assert "-[system] You edit." in dialog["diff"] and "+[system] You edit tersely." in dialog["diff"]


def test_fork_requests_that_change_nothing_or_name_unknown_agents_are_refused(server):
    sid = _first(server, "q=Kyoto&batch=b1")["session_id"]
    status, r = server.post(f"api/sessions/{sid}/fork", {"system_prompts": {"editor": "You edit."}})
    assert status == 400 and "Nothing to fork with" in r["error"]
    status, r = server.post(f"api/sessions/{sid}/fork", {"system_prompts": {"nobody": "x"}})
    assert status == 400 and "no agent 'nobody'" in r["error"]
    status, r = server.post(f"api/sessions/{sid}/fork", {"overrides": "agent_configs.nobody.x=1"})
    assert status == 400 and "nobody" in r["error"]


def test_the_view_nests_sub_tactics_and_links_forked_dialogs(tmp_path):
    from lllm import Tactic

    class Helper(Tactic, register=False):
        name = "helper"
        agent_group = ["scout"]

        def call(self, task: str) -> str:
            scout = self.agents["scout"]
            scout.open("main")
            scout.receive(f"scout {task}")
            return scout.respond().content

    class Lead(Tactic, register=False):
        name = "lead"
        agent_group = ["lead"]

        def __init__(self, config=None, **kw):
            super().__init__(config, **kw)
            self.helper = Helper(
                {"global": {"model_name": "test"}, "agent_configs": [{"name": "scout", "system_prompt": "Scout."}]}
            )

        def call(self, task: str) -> str:
            lead = self.agents["lead"]
            lead.open("main")
            lead.receive(task)
            lead.respond()
            lead.fork("main", "alt")
            lead.receive("try another angle")
            return lead.respond().content + self.helper(task)

    store = sqlite_store(tmp_path / "nested.db")
    config = {"global": {"model_name": "test"}, "agent_configs": [{"name": "lead", "system_prompt": "Lead."}]}
    Lead(config, log_store=store)("the <plan>")
    from lllm.ui.api import session_view

    view = session_view(store, store.list_sessions(limit=1)[0].session_id)
    dialogs = {d["alias"]: d for d in view["tree"]["dialogs"]}
    assert dialogs["alt"]["parent_id"] == dialogs["main"]["id"] and dialogs["main"]["parent_id"] is None
    assert dialogs["alt"]["messages"][-1]["content"].startswith("Test answer to: try another angle")
    sub = view["tree"]["subs"][0]
    assert sub["tool"] == "helper" and sub["tactic_name"] == "helper" and sub["agents"][0]["name"] == "scout"
    assert [i["tactic"] for i in view["invokes"]] == ["lead", "lead", "lead/helper#1"]
    assert {m["name"] for m in view["per_agent"]} == {"lead", "scout"}
    store.close()


async def test_list_pages_read_the_index_only_and_every_sort_pages_through_every_session(many, monkeypatch):
    reads: List[str] = []
    real_get = many.backend.get
    monkeypatch.setattr(many.backend, "get", lambda key: reads.append(key) or real_get(key))
    client = await _client(many)
    try:
        kyoto = [r for p in await _pages(client, "q=kyoto&limit=4") for r in p]
        assert len(kyoto) == len({r["session_id"] for r in kyoto}) == 15
        for sort in ("cost", "calls"):
            rows = [r for p in await _pages(client, f"sort={sort}&limit=7") for r in p]
            assert len({r["session_id"] for r in rows}) == 60
            field = "total_cost" if sort == "cost" else "agent_call_count"
            keys = [(r[field], r["timestamp"], r["session_id"]) for r in rows]
            assert keys == sorted(keys, reverse=True)  # highest first, ties newest first
        tested = [r for p in await _pages(client, "model=TEST&sort=calls&limit=9") for r in p]
        assert len(tested) == 45 and all(r["models"] == ["test"] for r in tested)
        assert not [k for k in reads if "/sessions/" in k]  # no stored session was read for a list
    finally:
        await client.close()


def test_fork_with_an_edited_package_prompt_over_http(server):
    sid = _first(server, "q=python&batch=b1")["session_id"]
    status, listed = server.get(f"api/sessions/{sid}/prompts")
    assert status == 200, listed
    review = next(p for p in listed["prompts"] if p["key"] == "demo.prompts:review")
    assert review["template"] == REVIEW and review["source"] == "runtime"
    assert review["agents"] == ["editor"] and review["args"] == ["draft"] and review["system_of"] == []
    assert [p["key"] for p in listed["prompts"]] == ["demo.prompts:review"]  # not inline or handler prompts
    edited = "Tighten this draft:\n\n{draft}\n"
    status, f = server.post(f"api/sessions/{sid}/fork", {"prompts": {"demo.prompts:review": edited}})
    assert status == 200, f
    assert f["mode"] == "fork" and f["diverged_at"]["agent"] == "editor" and f["replayed_calls"] == 2
    assert '+   "content": "Tighten this draft:' in f["diff"] and '-   "content": "Edit this draft:' in f["diff"]
    assert f["prompt_overrides"] == {"demo.prompts:review": edited}
    status, child = server.get(f"api/sessions/{f['session_id']}")
    assert child["replay_of"] == sid and child["session_metadata"]["prompt_overrides"] == f["prompt_overrides"]
    user = next(d for d in child["tree"]["dialogs"] if d["agent"] == "editor")["messages"][1]
    assert user["content"].startswith("Tighten this draft:") and user["metadata"]["prompt_key"] == "demo.prompts:review"
    status, cmp = server.get(f"api/compare?a={sid}&b={f['session_id']}")
    dialog = next(d for d in cmp["diffs"] if d["what"] == "dialog editor/main")["diff"]
    assert "-[user] Edit this draft:" in dialog and "+[user] Tighten this draft:" in dialog
    status, again = server.post(f"api/sessions/{sid}/replay", {})  # the server's runtime kept the original
    assert status == 200 and again["reproduced"] is True


@pytest.mark.parametrize(
    "prompts, message",
    [
        ({"demo.prompts:reveiw": "x"}, "prompt 'demo.prompts:reveiw': no such prompt"),
        ({"review": "{draft} in a {tone} tone"}, "placeholder(s) ['tone'] that the tactic does not supply"),
        ({"review": REVIEW}, "the new template is the recorded one"),
        (["review"], "prompts must map a prompt key"),
    ],
)
def test_bad_prompt_edits_are_400_naming_the_prompt(server, prompts, message):
    sid = _first(server, "q=python&batch=b1")["session_id"]
    status, r = server.post(f"api/sessions/{sid}/fork", {"prompts": prompts})
    assert status == 400 and message in r["error"], r


def test_lllm_replay_edits_a_prompt_from_the_command_line(project):
    sid = json.loads(lllm(project, "sessions", "list", "--json", "--store", "sessions.db").stdout)
    sid = next(r["session_id"] for r in sid if "pwned" in r["task_preview"])
    (project / "review.txt").write_text("Proofread:\n{draft}")
    out = lllm(project, "replay", sid, "--store", "sessions.db", "--prompt", "review=@review.txt", "--json").stdout
    run = json.loads(out)
    assert run["diverged_at"]["agent"] == "editor" and '+   "content": "Proofread:\\n' in run["diverged_at"]["diff"]
    inline = lllm(project, "replay", sid, "--store", "sessions.db", "--prompt", "demo.prompts:review=Fix: {draft}")
    assert "Diverged at agent 'editor', call #1" in inline.stdout and '"content": "Fix: ' in inline.stdout
    wrong = lllm(project, "replay", sid, "--store", "sessions.db", "--prompt", "nope=x", ok=False)
    assert "prompt 'nope': no such prompt" in wrong.stderr and "demo.prompts:review" in wrong.stderr
    missing = lllm(project, "replay", sid, "--store", "sessions.db", "--prompt", "review=@absent.txt", ok=False)
    assert "--prompt review=@absent.txt: cannot read the file" in missing.stderr
