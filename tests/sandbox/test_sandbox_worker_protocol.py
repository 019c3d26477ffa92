"""The subprocess backend's machinery: framing, output clipping, concurrency, start failures,
custom worker commands (the container seam), the CALL_API gate and uid leases."""

from __future__ import annotations

import io
import os
import sys
import threading
import time

import pytest

from lllm.sandbox import AgentInterpreter, SandboxError, SubprocessExecutor, clip_output, worker
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


@pytest.mark.parametrize(
    "output, error, overflow, limit, expected",
    [
        ("abc\n", None, False, 10, "abc\n"),
        ("a" * 20, None, False, 10, "a" * 10 + "[cut]"),
        ("abc", None, True, 10, "abc[cut]"),
        ("a" * 20, "Err\n", False, 10, "a" * 6 + "[cut]\nErr\n"),
        ("out", "E" * 30, False, 10, "out\n[cut]\n" + "E" * 5),
        ("a" * 20, "Err\n", True, 0, "a" * 20 + "\n[cut]\nErr\n"),
        ("", "E" * 8, False, 10, "E" * 8),  # a traceback that fits is not cut
        ("abc", "E" * 8, False, 10, "abc\n[cut]\n" + "E" * 5),
    ],
)
def test_clip_output(output, error, overflow, limit, expected):
    assert clip_output(output, error, overflow, limit, "[cut]") == expected


def test_capture_respects_a_shared_byte_budget():
    sink = io.BytesIO()
    budget = worker.OutputBudget(5)
    out, err = worker.Capture(sink.write, budget), worker.Capture(sink.write, budget)
    assert out.write("abc") == 3 and err.write("défg") == 4
    assert sink.getvalue() == b"abcd" + "é".encode()[:1] and budget.overflow
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
        out = it.run(
            "import os, stat\n"
            "for name in os.listdir('/proc/self/fd'):\n"
            "    fd = int(name)\n"
            "    try:\n"
            "        if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
            "            os.write(fd, b'\\x00\\x00\\x00\\x05hello')\n"
            "    except OSError:\n"
            "        pass\n"
            "import time; time.sleep(5)"
        )
        assert out.startswith("Error: the interpreter process broke the protocol")
        assert "NameError" in it.run("kept")


def test_call_api_outside_a_running_cell_is_refused():
    with AgentInterpreter(lambda p, q: "ok") as it:
        # The thread calls only once the cell is over (the 'go' file appears) and says when it is done: no
        # sleeps, so a slow machine cannot make the call land inside the next cell.
        it.run(
            "import os, threading, time\nseen = []\n"
            "def late():\n    while not os.path.exists('go'):\n        time.sleep(0.01)\n"
            "    try:\n        seen.append(CALL_API('a/b'))\n    except RuntimeError as e:\n        seen.append(str(e))\n"
            "    open('done', 'w').close()\n"
            "threading.Thread(target=late).start()"
        )
        workdir = it.executor._proc.workdir
        open(os.path.join(workdir, "go"), "w").close()
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(workdir, "done")):
            assert time.monotonic() < deadline, "the thread never called CALL_API"
            time.sleep(0.01)
        assert it.run("print(seen)") == "['CALL_API can only be called while a run_python call is executing']\n"


def test_call_api_from_several_threads_of_one_cell():
    with AgentInterpreter(lambda p, q: {"n": q["n"]}) as it:
        out = it.run(
            "import threading\nres = {}\n"
            "def ask(n):\n    res[n] = CALL_API('a/b', {'n': n})['n']\n"
            "ts = [threading.Thread(target=ask, args=(n,)) for n in range(16)]\n"
            "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(sorted(res.items()) == [(n, n) for n in range(16)])"
        )
        assert out == "True\n"


def test_calling_back_into_the_sandbox_from_call_api_raises_instead_of_deadlocking():
    executor = SubprocessExecutor(drop_privileges=False)
    with AgentInterpreter(
        lambda p, q: executor.run("print(1)", timeout=5, api=None), timeout=20, backend=executor
    ) as it:
        out = it.run("CALL_API('a/b')")
        assert "cannot be called from the CALL_API handler of its own run" in out
        assert it.run("print('still usable')") == "still usable\n"


_FAKE_WORKER = """
import sys
sys.path.insert(0, {path!r})
import worker
worker.write_frame(1, {{"op": "ready", "pid": 0, "uid": 0, "network": "open", "unenforced_limits": []}})
worker.read_frame(0)
worker.write_frame(1, {{"op": "done", "output": {{"not": "text"}}, "error": 5, "overflow": False}})
worker.read_frame(0)
"""


class MalformedDone(SubprocessExecutor):
    def worker_command(self):
        return [sys.executable, "-c", _FAKE_WORKER.format(path=os.path.dirname(worker.__file__))]


def test_a_done_message_without_text_is_a_protocol_error():
    with AgentInterpreter(None, backend=MalformedDone(drop_privileges=False)) as it:
        out = it.run("print(1)")
    assert out.startswith("Error: the interpreter process broke the protocol")


def test_lone_surrogates_in_a_traceback_are_escaped():
    with AgentInterpreter(None) as it:
        out = it.run("raise ValueError('bad \\ud800 text')")
        assert out.rstrip().endswith("ValueError: bad \\ud800 text")
        out.encode("utf-8")  # what goes to the model's API must be valid UTF-8


def test_print_keeps_working_after_a_child_process_filled_the_output_file():
    with AgentInterpreter(
        None, max_output_chars=100, backend=SubprocessExecutor(max_file_mb=2, drop_privileges=False)
    ) as it:
        out = it.run("import os\nos.system('head -c 5000000 /dev/zero | tr \"\\\\0\" x')\nprint('after the flood')")
        assert out.startswith("x" * 100) and out.endswith("... (truncated)") and "Error" not in out
        assert it.run("print('next')") == "next\n"


def test_a_failed_start_releases_the_uid_lease(monkeypatch):
    from lllm.sandbox import subprocess_backend

    released = []

    class FakeLease:
        uid = os.getuid()

        def release(self):
            released.append(True)

    def no_dir(kind=""):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(subprocess_backend.UidLease, "acquire", classmethod(lambda cls: FakeLease()))
    monkeypatch.setattr(subprocess_backend.scratch, "make_dir", no_dir)
    with pytest.raises(SandboxError, match="No space left"):
        executor = SubprocessExecutor()
        executor.drop_privileges = True
        subprocess_backend._Process(executor)
    assert released == [True]


def test_minimal_env_keeps_only_the_allow_list(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    env = minimal_env("/tmp/w")
    assert env["HOME"] == env["TMPDIR"] == "/tmp/w" and env["LANG"] == "en_US.UTF-8"
    assert "OPENAI_API_KEY" not in env and set(env) <= {
        "PATH",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "HOME",
        "TMPDIR",
        "PYTHONIOENCODING",
        "USER",
        "LOGNAME",
    }


def test_unprivileged_mode_still_isolates_env_cwd_and_time(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    with AgentInterpreter(None, timeout=1, backend=SubprocessExecutor(drop_privileges=False)) as it:
        out = it.run(
            "import os\nprint(os.getuid() == %d, 'OPENAI_API_KEY' in os.environ, os.getcwd() == %r)"
            % (os.getuid(), os.getcwd())
        )
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
