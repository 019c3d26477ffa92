"""lllm-core 0.1.x's JupyterSandbox, kept as a deprecated manager of JupyterSessions on a real kernel."""

from __future__ import annotations

import pytest

from lllm.sandbox import JupyterCellType, JupyterSandbox, JupyterSession, ProgrammingLanguage


def test_jupyter_sandbox_manages_named_sessions_on_a_real_kernel(tmp_path):
    with pytest.warns(DeprecationWarning, match="create lllm.sandbox.jupyter.JupyterSession"):
        sandbox = JupyterSandbox(
            {"name": "compat", "project_root": str(tmp_path)},
            path=tmp_path / "sb",
            api=lambda path, params: {"path": path, **params},
        )
    session = sandbox.new_session("s1")
    try:
        assert isinstance(session, JupyterSession) and session.running
        assert session.dir == (tmp_path / "sb" / "sessions" / "s1").resolve()
        assert session.run_cell("print(6 * 7)").strip() == "42"
        assert "'path': 'x/y'" in session.run_cell("print(CALL_API('x/y', {'q': 1}))")
        assert sandbox.get_session("s1") is session
        with pytest.raises(ValueError, match="Jupyter session 's1' already exists"):
            sandbox.new_session("s1")
        assert sandbox.get_session("absent", create=False) is None
        sandbox.shutdown_all_sessions_resources()
        assert not session.running and session.notebook_path.exists()
    finally:
        sandbox.delete_session_completely("s1")
    assert not (tmp_path / "sb" / "sessions" / "s1").exists() and "s1" not in sandbox.active_sessions
    assert JupyterCellType.CODE == "code" and ProgrammingLanguage.PYTHON == "python"
