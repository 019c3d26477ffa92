"""Session 7 review: RemoteTactic against servers that are slow, wrong or go away."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pydantic import BaseModel
from serve_support import served
from support.handler_server import serving

from lllm import Tactic
from lllm.errors import AgentCallError
from lllm.serve.app import create_app
from lllm.serve.client import RemoteTactic


def test_a_client_timeout_is_reported_as_a_timeout_naming_the_limit(package_dir, start):
    s = start(create_app(served(package_dir)))
    with pytest.raises(AgentCallError) as err:
        RemoteTactic(s.url, "slow", timeout=0.3).call(30)
    assert err.value.reason == "remote_timeout"  # the server is reachable: it is slow
    assert "did not answer within 0.3 s" in str(err.value)


class Strict(BaseModel):
    summary: int  # the served echo answers a string here


def _caller(remote: RemoteTactic) -> Tactic:
    class Caller(Tactic, register=False):
        name = "caller"

        async def call(self, task):
            return await remote.acall(task)

    return Caller({})


async def test_a_cancelled_remote_call_is_recorded_and_reported_finished(package_dir, start, store):
    s = start(create_app(served(package_dir)))
    seen = []
    caller = _caller(RemoteTactic(s.url, "slow"))
    caller.log_store = store
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(caller.acall(60, on_event=seen.append), 0.5)
    kinds = [(type(e).__name__, e.name) for e in seen if "SubTactic" in type(e).__name__]
    assert kinds == [("SubTacticStarted", "slow"), ("SubTacticFinished", "slow")]  # observers see it end
    (row,) = store.list_sessions(limit=None)
    (sub,) = store.load_session(row.session_id).sub_tactic_sessions["slow"]
    assert sub.state == "failure" and "CancelledError" in sub.error


def test_a_result_that_does_not_fit_the_output_model_is_recorded_as_the_failure(package_dir, start):
    s = start(create_app(served(package_dir)))
    seen = []
    with pytest.raises(Exception) as err:
        _caller(RemoteTactic(s.url, "echo", output_model=Strict))({"topic": "x"}, on_event=seen.append)
    kinds = [(type(e).__name__, getattr(e, "state", None)) for e in seen if "SubTactic" in type(e).__name__]
    assert kinds == [("SubTacticStarted", None), ("SubTacticFinished", "failure")], err.value


OUTLINE = {
    "tree/lllm.toml": '[package]\nname = "tree"\n',
    "tree/tactics/outline.py": """
        from typing import List, Optional

        from pydantic import BaseModel

        from lllm import Tactic


        class Node(BaseModel):
            title: str
            children: List["Node"] = []


        class Outline(BaseModel):
            root: Node
            extra: Optional[Node] = None


        class Outliner(Tactic):
            name = "outliner"

            def call(self, task: str) -> Outline:
                return Outline(root=Node(title=task, children=[Node(title="a", children=[Node(title="b")])]))


        class Brancher(Tactic):
            name = "brancher"

            def call(self, task: str) -> Node:
                return Node(title=task, children=[Node(title="leaf")])
    """,
}


def test_a_recursive_output_model_is_rebuilt_typed(tmp_path, start):
    from support.pkgtree import write_tree

    write_tree(tmp_path / "pkgs", OUTLINE)
    s = start(create_app(served(tmp_path / "pkgs/tree")))
    outline = RemoteTactic(s.url, "outliner").call("top")  # was RecursionError
    assert isinstance(outline, BaseModel) and outline.root.children[0].children[0].title == "b"
    assert isinstance(outline.root.children[0].children[0], BaseModel)
    node = RemoteTactic(s.url, "brancher").call("top")  # its schema is a $ref to its own definition
    assert isinstance(node, BaseModel) and node.children[0].title == "leaf"


@pytest.mark.parametrize("workers", [0, -1])
def test_remote_bcall_with_no_worker_is_refused_not_a_hang(package_dir, start, workers):
    from lllm.errors import ConfigError

    s = start(create_app(served(package_dir)))
    remote = RemoteTactic(s.url, "echo", timeout=5)
    outcome = []

    def run() -> None:
        try:
            remote.bcall([{"topic": "a"}], max_workers=workers)
        except Exception as e:  # noqa: BLE001 - kept for the assertion below
            outcome.append(e)

    worker = threading.Thread(target=run, daemon=True)  # a hang must not hang the test run
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "bcall with no worker waits forever"
    assert isinstance(outcome[0], ConfigError) and f"max_workers must be an integer >= 1, got {workers}" in str(
        outcome[0]
    )


@pytest.fixture
def not_lllm_server():
    """A web server on 127.0.0.1 that answers every request 200 with an HTML page (a proxy's, say)."""
    import http.server

    class Page(http.server.BaseHTTPRequestHandler):
        def _page(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<html><body>Welcome</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _page

        def log_message(self, *args) -> None:
            pass

    with serving(Page) as url:
        yield url


def test_a_200_answer_without_a_result_is_an_error_not_none(not_lllm_server):
    with pytest.raises(AgentCallError, match="answered 200 without a result") as err:
        RemoteTactic(not_lllm_server, "echo", output_model=Strict).call({"topic": "x"})
    assert err.value.reason == "remote_error" and "Welcome" in str(err.value)


UNDERSCORED = {
    "docs/lllm.toml": '[package]\nname = "docs"\n',
    "docs/tactics/fetch.py": """
        from pydantic import BaseModel, Field

        from lllm import Tactic


        class Doc(BaseModel):
            id_: str = Field(alias="_id")
            title: str


        class Fetch(Tactic):
            name = "fetch"

            def call(self, task: str) -> Doc:
                return Doc(_id="7", title=task)
    """,
}


def test_a_field_served_with_a_leading_underscore_is_kept(tmp_path, start):
    from support.pkgtree import write_tree

    write_tree(tmp_path / "pkgs", UNDERSCORED)
    s = start(create_app(served(tmp_path / "pkgs/docs")))
    assert s.json("POST", "/tactics/fetch/invoke", "t")[1]["result"] == {"_id": "7", "title": "t"}
    doc = RemoteTactic(s.url, "fetch").call("t")
    assert doc.model_dump(by_alias=True) == {"_id": "7", "title": "t"}  # '_id' was silently dropped
    session = _caller(RemoteTactic(s.url, "fetch"))("t", return_session=True)
    assert session.sub_tactic_sessions["fetch"][0].delivery == {"_id": "7", "title": "t"}  # recorded as sent
