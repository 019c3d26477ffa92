"""Jupyter mode (§8.2) on a real IPython kernel: cells, CALL_API back to the parent, timeouts that
interrupt then restart, and the notebook written as an artefact."""

from __future__ import annotations

import json
import socket

import pytest

pytest.importorskip("jupyter_client", reason="Jupyter mode needs the 'jupyter' extra (jupyter_client)")
pytest.importorskip("ipykernel", reason="Jupyter mode needs the 'jupyter' extra (ipykernel)")
nbformat = pytest.importorskip("nbformat", reason="Jupyter mode needs the 'jupyter' extra (nbformat)")

from lllm.sandbox.jupyter import JupyterError, JupyterSession, _ApiServer, extract_cells  # noqa: E402


class CustomFailure(Exception):
    pass


class Api:
    """A stand-in ProxyManager: records calls, answers ``books/get``, fails on anything else."""

    def __init__(self):
        self.calls = []

    def __call__(self, path, params):
        self.calls.append((path, params))
        if path == "books/get":
            return {"id": params["id"], "title": f"Book {params['id']}", "price": 9.5}
        if path == "books/custom":
            raise CustomFailure("custom failure")
        raise KeyError(f"Unknown endpoint '{path}'. Endpoints: ['books/get']")


def start(tmp_path, name="nb", **kw) -> JupyterSession:
    session = JupyterSession(name, tmp_path, {"task": "test"}, **kw)
    try:
        session.init_session()
    except JupyterError as e:
        pytest.skip(f"an IPython kernel cannot start here: {e}")
    return session


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    api = Api()
    session = start(tmp_path_factory.mktemp("jupyter"), api=api, interrupt_grace=2.0)
    session.api_log = api
    yield session
    session.shutdown()


def test_cells_show_streams_results_displays_and_keep_state(shared):
    assert shared.run_cell("x = 20\nprint('hello')\nx + 1") == "hello\n21\n"
    assert shared.last_cell_failed is False
    assert shared.run_cell("x * 2") == "40\n"
    out = shared.run_cell(
        "import sys\nprint('warn', file=sys.stderr)\n"
        "from IPython.display import display, HTML\ndisplay(HTML('<b>x</b>'))"
    )
    assert "warn\n" in out and "<IPython.core.display.HTML object>" in out
    assert shared.run_cell("y = 1") == ""


def test_errors_come_back_as_tracebacks(shared):
    out = shared.run_cell("def f():\n    return 1 / 0\nf()")
    assert shared.last_cell_failed is True
    assert "ZeroDivisionError" in out and "----> 2" in out and "\x1b[" not in out
    shared.run_cell("print('fine')")
    assert shared.last_cell_failed is False


def test_call_api_reaches_the_parent_and_maps_errors(shared):
    assert shared.run_cell("r = CALL_API('books/get', {'id': 7})\nprint(r['title'], r['price'])") == "Book 7 9.5\n"
    assert shared.api_log.calls[-1] == ("books/get", {"id": 7})
    out = shared.run_cell("try:\n    CALL_API('nope')\nexcept KeyError as e:\n    print('KeyError', e)")
    assert out.startswith("KeyError") and "Endpoints: ['books/get']" in out
    out = shared.run_cell("CALL_API('books/custom', {})")  # not a builtin exception type: RuntimeError
    assert "RuntimeError: custom failure" in out
    assert "_lllm_make_call_api" not in out  # CALL_API's own frame is left out of tracebacks


def test_the_kernel_sees_no_secrets_and_runs_in_its_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("LLLM_VISIBLE", "yes")
    with start(tmp_path / "work") as session:
        out = session.run_cell(
            "import os\nprint(os.environ.get('OPENAI_API_KEY'), os.environ.get('LLLM_VISIBLE'))\nprint(os.getcwd())"
        )
        assert out.splitlines() == ["None yes", str(tmp_path / "work")]
        assert "CALL_API is not available" in session.run_cell("CALL_API('x/y')")


def test_a_slow_cell_is_interrupted_and_keeps_state(shared):
    shared.run_cell("kept = 'still here'")
    out = shared.run_cell("import time\nprint('started')\ntime.sleep(30)", timeout=1)
    assert out.startswith("started\n") and "KeyboardInterrupt" in out
    assert out.endswith("Error: the cell exceeded its 1s time limit and was interrupted (variables are kept).")
    assert shared.last_cell_failed is True
    assert shared.run_cell("print(kept)") == "still here\n"


def test_a_cell_that_ignores_interrupts_restarts_the_kernel(tmp_path):
    api = Api()
    with start(tmp_path, api=api, interrupt_grace=1.0) as session:
        session.run_cell("lost = 1")
        stubborn = (
            "import time\nwhile True:\n    try:\n        time.sleep(0.01)\n    except KeyboardInterrupt:\n        pass"
        )
        out = session.run_cell(stubborn, timeout=1)
        assert "did not stop when interrupted; the kernel was restarted" in out
        assert session.last_cell_failed is True
        assert "NameError" in session.run_cell("lost")
        assert session.run_cell("print(CALL_API('books/get', {'id': 1})['id'])") == "1\n"  # defined again
        out = session.run_cell("import os\nos._exit(3)", timeout=10)
        assert "the kernel died while running this cell; it was restarted" in out
        assert session.run_cell("print(1 + 1)") == "2\n"


def test_long_output_is_cut_but_the_traceback_survives(tmp_path):
    with start(tmp_path, max_output_chars=300) as session:
        out = session.run_cell("for i in range(5000):\n    print('line', i)\nraise ValueError('the end')")
        assert len(out) < 400 and "... (truncated)" in out and out.rstrip().endswith("ValueError: the end")
        nb = nbformat.read(str(session.notebook_path), as_version=4)
        stored = nb.cells[-1].outputs[0]["text"]
        assert len(stored) < 2000  # a flood is not stored whole either


def test_the_notebook_is_a_valid_artefact(tmp_path):
    session = start(tmp_path, name="analysis run")
    session.add_markdown_cell("# Plan\nLoad the data.")
    session.run_cell("print('a')\n1 + 1")
    session.run_cell("1 / 0")
    session.shutdown()
    session.shutdown()  # idempotent
    assert session.notebook_path == tmp_path.resolve() / "analysis_run.ipynb"
    nb = nbformat.read(str(session.notebook_path), as_version=4)
    nbformat.validate(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.metadata["lllm"] == {"session": "analysis run", "task": "test"}
    code = nb.cells[1]
    assert code.execution_count == 1
    assert [o.output_type for o in code.outputs] == ["stream", "execute_result"]
    assert code.outputs[1]["data"]["text/plain"] == "2"
    assert nb.cells[2].outputs[0].output_type == "error" and nb.cells[2].outputs[0].ename == "ZeroDivisionError"


def test_agent_cells_run_in_order(tmp_path):
    reply = (
        "Plan first.\n<markdown_cell>## Step 1</markdown_cell>\n<python_cell>\nx = 5\nprint(x)\n</python_cell>\n"
        "<python_cell>print(x * 2)</python_cell>"
    )
    assert extract_cells(reply) == [
        ("markdown", "## Step 1"),
        ("python", "x = 5\nprint(x)"),
        ("python", "print(x * 2)"),
    ]
    with start(tmp_path) as session:
        assert session.run_agent_cells(reply) == "[cell 1]\n5\n\n[cell 2]\n10\n"
        assert session.run_agent_cells("<python_cell>print('one')</python_cell>") == "one\n"
        nb = nbformat.read(str(session.notebook_path), as_version=4)
        assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code"]


async def test_arun_cell_does_not_block_the_loop(shared):
    assert await shared.arun_cell("print('async')") == "async\n"


def test_the_api_channel_rejects_a_wrong_token():
    server = _ApiServer(lambda path, params: "secret data")
    try:
        for token in ("wrong", server.token):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
                conn.sendall(json.dumps({"token": token, "path": "a/b", "params": {}}).encode() + b"\n")
                reply = json.loads(conn.makefile("rb").readline())
            if token == "wrong":
                assert reply == {"ok": False, "type": "PermissionError", "message": "CALL_API: bad request"}
            else:
                assert reply == {"ok": True, "value": "secret data"}
    finally:
        server.close()


def test_bad_arguments():
    with pytest.raises(ValueError):
        JupyterSession("", "/tmp")
    with pytest.raises(TypeError):
        JupyterSession("x", "/tmp", api="not callable")
    with pytest.raises(ValueError):
        JupyterSession("x", "/tmp", max_output_chars=-1)


def test_jupyter_mode_tactic_runs_the_cells_an_agent_writes(tmp_path):
    """The §8.2 loop: the agent writes cells, the tactic runs them and returns the outputs, until an answer."""
    from lllm import Tactic
    from lllm.packages.runtime import Runtime
    from lllm.testing import MockInvoker

    api = Api()

    class Analyst(Tactic, register=False):
        name = "analyst"
        agent_group = ["analyst"]

        def call(self, task: str) -> str:
            agent = self.agents["analyst"]
            agent.open("nb")
            agent.receive(task)
            with JupyterSession("analysis", tmp_path, {"task": task}, api=api) as nb:
                for _ in range(3):
                    reply = agent.respond()
                    if not extract_cells(reply.content):
                        return reply.content
                    agent.receive(nb.run_agent_cells(reply.content), name="jupyter")
            return "no answer"

    inv = MockInvoker(
        [
            "<markdown_cell>Fetch book 3.</markdown_cell>\n"
            "<python_cell>book = CALL_API('books/get', {'id': 3})\nprint(book['price'])</python_cell>",
            "<python_cell>print(book['price'] * 2)</python_cell>",
            "Two copies cost 19.0.",
        ]
    )
    tactic = Analyst(
        {"agent_configs": [{"name": "analyst", "model_name": "mock", "system_prompt": "Write cells."}]},
        invoker=inv,
        runtime=Runtime("jupyter-tests"),
    )
    try:
        answer = tactic("What do two copies of book 3 cost?")
    except JupyterError as e:
        pytest.skip(f"an IPython kernel cannot start here: {e}")
    assert answer == "Two copies cost 19.0."
    assert [m.content for m in inv.requests[2].messages if m.name == "jupyter"] == ["9.5\n", "19.0\n"]
    nb = nbformat.read(str(tmp_path / "analysis.ipynb"), as_version=4)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.metadata["lllm"]["task"] == "What do two copies of book 3 cost?"


def test_a_kernel_that_died_between_cells_is_replaced_and_the_next_cell_says_so(tmp_path):
    import time as _time

    with start(tmp_path, api=Api()) as session:
        session.run_cell("kept = 1")
        old_client = session._kc
        session._km.signal_kernel(9)  # SIGKILL: the kernel dies while no cell runs
        deadline = _time.monotonic() + 10
        while session.running and _time.monotonic() < deadline:
            _time.sleep(0.05)
        out = session.run_cell("print('fresh')")
        assert out.startswith("[the kernel had died since the last cell") and out.endswith("fresh\n")
        assert session.last_cell_failed is False and session._kc is not old_client
        assert not old_client.channels_running  # the dead kernel's client was stopped, not leaked
        assert session.run_cell("print(2)") == "2\n"
