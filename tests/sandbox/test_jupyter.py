"""Jupyter mode under failure (review session 7): a session whose start fails leaves nothing running."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest

pytest.importorskip("jupyter_client", reason="Jupyter mode needs the 'jupyter' extra (jupyter_client)")
pytest.importorskip("ipykernel", reason="Jupyter mode needs the 'jupyter' extra (ipykernel)")
pytest.importorskip("nbformat", reason="Jupyter mode needs the 'jupyter' extra (nbformat)")

from lllm.sandbox.jupyter import JupyterError, JupyterSession  # noqa: E402


def api_threads() -> int:
    return sum(t.name == "lllm-jupyter-api" and t.is_alive() for t in threading.enumerate())


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "State:\tZ" not in f.read()
    except OSError:
        return False


def test_a_kernel_that_cannot_start_leaves_no_call_api_server_behind(tmp_path):
    before = api_threads()
    session = JupyterSession("nb", tmp_path, kernel_name="lllm-no-such-kernel")
    with pytest.raises(JupyterError, match="lllm-no-such-kernel"):
        with session:
            pass
    deadline = time.monotonic() + 5
    while api_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api_threads() == before, "the CALL_API server of a session that never started is still serving"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_kernel_that_hangs_in_its_setup_is_stopped(tmp_path, monkeypatch):
    """The kernel starts, then never runs the setup code that defines CALL_API: the error is raised and
    the kernel process does not outlive it."""
    pid_file = tmp_path / "kernel.pid"
    hang = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
        "get_ipython().input_transformers_cleanup.append(lambda lines: time.sleep(3600) or lines)"
    )
    spec = tmp_path / "jupyter" / "kernels" / "lllm-hangs"
    spec.mkdir(parents=True)
    argv = [
        sys.executable,
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
        f"--IPKernelApp.exec_lines=[{hang!r}]",
    ]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "hangs", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    before = api_threads()
    session = JupyterSession("nb", tmp_path / "work", kernel_name="lllm-hangs", startup_timeout=8)
    with pytest.raises(JupyterError, match="setup code"):
        session.init_session()
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while (alive(pid) or api_threads() > before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the kernel of a session whose setup failed is still running"
    assert api_threads() == before


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    s = JupyterSession("flood", tmp_path_factory.mktemp("flood"))
    try:
        s.init_session()
    except JupyterError as e:
        pytest.skip(f"an IPython kernel cannot start here: {e}")
    yield s
    s.shutdown()


def test_a_flood_of_displays_is_not_all_kept(session):
    """Like a print loop (whose stream output is cut), a display loop must not grow the host's memory and
    the notebook without bound: 64 MB of displays are not all kept."""
    text = session.run_cell("from IPython.display import display\nfor i in range(640):\n    display('x' * 100_000)")
    assert len(text) < 10_000 and "truncated" in text
    kept = sum(len(json.dumps(o)) for o in session._nb.cells[-1].outputs)  # noqa: SLF001 - what the host holds
    assert kept < 40 << 20, f"{kept >> 20} MB of display outputs kept for one cell"
    assert any("were dropped" in o.get("text", "") for o in session._nb.cells[-1].outputs)  # noqa: SLF001
    assert session.notebook_path.stat().st_size < 40 << 20


def test_a_huge_exception_message_is_not_all_kept(session):
    text = session.run_cell("raise ValueError('y' * 50_000_000)")
    assert "ValueError" in text and len(text) < 10_000
    kept = sum(len(json.dumps(o)) for o in session._nb.cells[-1].outputs)  # noqa: SLF001
    assert kept < 1 << 20, f"{kept >> 20} MB kept for one traceback"
    assert session.run_cell("print('still here')") == "still here\n"


def test_the_kernel_gets_no_credentials_under_names_that_do_not_look_secret(tmp_path, monkeypatch):
    """``kernel_env`` dropped variables by name only: a database URL with its password, a proxy URL with
    credentials, or a registered credential under an unusual name reached the kernel's environment."""
    from lllm.secrets import register_secret

    register_secret("reg-s7-9f8e7d6c5b4a")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s7-db-pass-123@db.internal/app")
    monkeypatch.setenv("HTTPS_PROXY", "http://me:s7-proxy-pass-456@proxy.internal:3128")
    monkeypatch.setenv("SERVICE_AUTH", "reg-s7-9f8e7d6c5b4a")
    monkeypatch.setenv("LLLM_VISIBLE", "yes")
    session = JupyterSession("env", tmp_path)
    try:
        session.init_session()
    except JupyterError as e:
        pytest.skip(f"an IPython kernel cannot start here: {e}")
    with session:
        names = ["DATABASE_URL", "HTTPS_PROXY", "SERVICE_AUTH", "LLLM_VISIBLE"]
        out = session.run_cell(f"import os\nfor n in {names!r}:\n    print(n, os.environ.get(n))")
    assert "LLLM_VISIBLE" in out
    for leaked in ("s7-db-pass-123", "s7-proxy-pass-456", "reg-s7-9f8e7d6c5b4a"):
        assert leaked not in out


def test_output_after_many_cleared_progress_lines_is_kept(session):
    """A progress display (``clear_output`` then ``print`` in a loop) used up the cell's stream budget
    although every line was cleared, so what the cell printed at the end (its answer) was dropped. A small
    budget keeps the loop short (each clear_output waits on the kernel's output thread: slow on a busy machine)."""
    session.max_output_chars = 500  # a budget of 1,000 characters; the loop prints ~4,000
    try:
        text = session.run_cell(
            "from IPython.display import clear_output\n"
            "for i in range(300):\n    clear_output(wait=True)\n    print('progress', i)\n"
            "print('final answer 42')"
        )
    finally:
        session.max_output_chars = 5000
    assert text == "progress 299\nfinal answer 42\n"


def test_call_api_in_a_kernel_sends_parameters_json_cannot_encode_as_text(tmp_path):
    """The subprocess sandbox sends a date parameter as its text; the kernel's CALL_API raised TypeError
    ("Object of type date is not JSON serializable") before the request left the kernel."""
    calls = []

    def api(path, params):
        calls.append((path, params))
        return {"ok": True}

    session = JupyterSession("params", tmp_path, api=api)
    try:
        session.init_session()
    except JupyterError as e:
        pytest.skip(f"an IPython kernel cannot start here: {e}")
    with session:
        out = session.run_cell("import datetime\nprint(CALL_API('books/on', {'day': datetime.date(2024, 1, 31)}))")
    assert out == "{'ok': True}\n"
    assert calls == [("books/on", {"day": "2024-01-31"})]


@pytest.mark.parametrize("name", ["", ".", "..", "../outside", "a/../../outside"])
def test_jupyter_sandbox_deletes_only_a_session_directory(tmp_path, name):
    """``delete_session_completely(name)`` removed ``<path>/sessions/<name>`` whatever the name: "" took
    every session's notebooks, "../outside" a directory beside the sandbox."""
    from lllm.sandbox.jupyter import JupyterSandbox

    with pytest.warns(DeprecationWarning):
        sandbox = JupyterSandbox(path=tmp_path / "sandbox")
    kept = tmp_path / "sandbox" / "sessions" / "other" / "other.ipynb"
    kept.parent.mkdir(parents=True)
    kept.write_text("{}")
    outside = tmp_path / "sandbox" / "outside" / "notes.txt"
    outside.parent.mkdir(parents=True)
    outside.write_text("mine")
    (tmp_path / "outside").mkdir()
    with pytest.raises(ValueError, match="session name"):
        sandbox.delete_session_completely(name)
    with pytest.raises(ValueError, match="session name"):
        sandbox.new_session(name or "..")
    assert kept.exists() and outside.exists() and (tmp_path / "outside").is_dir()
