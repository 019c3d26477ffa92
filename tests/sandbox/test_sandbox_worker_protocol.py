"""The subprocess backend's machinery: framing, output clipping, concurrency, start failures,
custom worker commands (the container seam), the CALL_API gate and uid leases."""
from __future__ import annotations

import io
import os
import sys
import threading

import pytest

from lllm.sandbox import AgentInterpreter, SandboxError, SubprocessExecutor, clip_output
from lllm.sandbox import worker
from lllm.sandbox.interpreter import NO_OUTPUT
from lllm.sandbox.isolation import UidLease, can_drop_privileges, kill_uid, minimal_env


def test_frames_round_trip_and_fall_back_to_str():
    r, w = os.pipe()
    try:
        worker.write_frame(w, {"op": "x", "value": object, "text": "é✓"})
        msg = worker.read_frame(r)
        assert msg["op"] == "x" and msg["value"] == "<class 'object'>" and msg["text"] == "é✓"
        os.write(w, worker.HEADER.pack(worker.MAX_FRAME + 1))
        with pytest.raises(ValueError, match="exceeds"):
            worker.read_frame(r)
    finally:
        os.close(w)
    with pytest.raises(EOFError):
        worker.read_frame(r)
    os.close(r)


@pytest.mark.parametrize("output, error, overflow, limit, expected", [
    ("abc\n", None, False, 10, "abc\n"),
    ("a" * 20, None, False, 10, "a" * 10 + "[cut]"),
    ("abc", None, True, 10, "abc[cut]"),
    ("a" * 20, "Err\n", False, 10, "a" * 6 + "[cut]\nErr\n"),
    ("out", "E" * 30, False, 10, "out\n[cut]\n" + "E" * 5),
    ("a" * 20, "Err\n", True, 0, "a" * 20 + "\n[cut]\nErr\n"),
])
def test_clip_output(output, error, overflow, limit, expected):
    assert clip_output(output, error, overflow, limit, "[cut]") == expected


def test_capture_respects_a_shared_byte_budget():
    sink = io.BytesIO()
    budget = worker.OutputBudget(5)
    out, err = worker.Capture(sink.write, budget), worker.Capture(sink.write, budget)
    assert out.write("abc") == 3 and err.write("défg") == 4
    assert sink.getvalue() == "abcd".encode() + "é".encode()[:1] and budget.overflow
    with pytest.raises(TypeError):
        out.write(b"bytes")


def test_runs_from_several_threads_are_serialised():
    with AgentInterpreter(None) as it:
        it.run("counter = []")
        results = []
        def one(i):
            results.append(it.run(f"counter.append({i})\nprint(len(counter))"))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(int(r) for r in results) == list(range(1, 9))


class FailingStart(SubprocessExecutor):
    def worker_command(self):
        return [sys.executable, "-c", "import sys; sys.stderr.write('cannot start: no sandbox here'); sys.exit(1)"]


def test_a_worker_that_cannot_start_raises_sandbox_error():
    ex = FailingStart()
    with pytest.raises(SandboxError, match="cannot start: no sandbox here"):
        ex.run("print(1)", timeout=5, api=None)
    assert ex.pid is None


def test_a_missing_interpreter_raises_sandbox_error():
    with pytest.raises(SandboxError, match="could not start the sandbox worker '/nonexistent/python'"):
        SubprocessExecutor(python="/nonexistent/python").start()


def test_closing_fds_1_and_2_does_not_lose_python_output():
    with AgentInterpreter(None) as it:
        assert it.run("import os\nos.close(1)\nos.close(2)\nprint('still captured')") == "still captured\n"


class Wrapped(SubprocessExecutor):
    """A worker started through a wrapper command, as a container backend would (docker run -i ... python ...)."""

    def worker_command(self):
        return ["env", "-i", *super().worker_command()]


def test_a_custom_worker_command_uses_the_same_protocol():
    with AgentInterpreter(lambda p, q: {"p": p}, backend=Wrapped()) as it:
        assert it.run("print(CALL_API('a/b', {}))") == "{'p': 'a/b'}\n"


def test_user_code_that_replaces_sys_stdout_only_affects_its_own_cell():
    with AgentInterpreter(None) as it:
        assert it.run("import io, sys\nsys.stdout = io.StringIO()\nprint('hidden')") == NO_OUTPUT
        assert it.run("print('visible')") == "visible\n"


def test_a_worker_that_breaks_the_protocol_is_replaced():
    with AgentInterpreter(None) as it:
        it.run("kept = 1")
        out = it.run("import os, stat\n"
                     "for name in os.listdir('/proc/self/fd'):\n"
                     "    fd = int(name)\n"
                     "    try:\n"
                     "        if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
                     "            os.write(fd, b'\\x00\\x00\\x00\\x05hello')\n"
                     "    except OSError:\n"
                     "        pass\n"
                     "import time; time.sleep(5)")
        assert out.startswith("Error: the interpreter process broke the protocol")
        assert "NameError" in it.run("kept")


def test_call_api_outside_a_running_cell_is_refused():
    with AgentInterpreter(lambda p, q: "ok") as it:
        it.run("import threading, time\nseen = []\n"
               "def late():\n    time.sleep(0.1)\n"
               "    try:\n        CALL_API('a/b')\n    except RuntimeError as e:\n        seen.append(str(e))\n"
               "threading.Thread(target=late).start()")
        import time
        time.sleep(1.5)
        assert it.run("print(seen)") == "['CALL_API can only be called while a run_python call is executing']\n"


def test_minimal_env_keeps_only_the_allow_list(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    env = minimal_env("/tmp/w")
    assert env["HOME"] == env["TMPDIR"] == "/tmp/w" and env["LANG"] == "en_US.UTF-8"
    assert "OPENAI_API_KEY" not in env and set(env) <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME",
                                                         "TMPDIR", "PYTHONIOENCODING"}


def test_unprivileged_mode_still_isolates_env_cwd_and_time(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    with AgentInterpreter(None, timeout=1, backend=SubprocessExecutor(drop_privileges=False)) as it:
        out = it.run("import os\nprint(os.getuid() == %d, 'OPENAI_API_KEY' in os.environ, os.getcwd() == %r)"
                     % (os.getuid(), os.getcwd()))
        assert out == "True False False\n"
        assert it.executor.info["network"] == "patched" and it.executor.info["unenforced_limits"] == []
        assert it.run("while True: pass").startswith("Error: execution exceeded 1s")


@pytest.mark.skipif(not can_drop_privileges(), reason="needs root on Linux")
def test_uid_leases_are_exclusive_and_kill_their_processes():
    import subprocess
    a, b = UidLease.acquire(), UidLease.acquire()
    try:
        assert a.uid != b.uid
        sleeper = subprocess.Popen(["sleep", "30"], user=a.uid, group=a.uid, extra_groups=[])
        kill_uid(a.uid)
        assert sleeper.wait(timeout=5) == -9
    finally:
        a.release()
        b.release()
        a.release()  # idempotent


@pytest.mark.skipif(can_drop_privileges(), reason="only meaningful without root")
def test_drop_privileges_needs_root():
    with pytest.raises(SandboxError, match="root"):
        SubprocessExecutor(drop_privileges=True)
