"""A sandbox worker's folder left by a process killed with SIGKILL (no cleanup ran) is removed by the next
process that starts a sandbox; a live owner's folder, and folders not named for an owner here, are left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

from lllm.sandbox import scratch

OWNER = """
import os, signal, sys
os.environ["LLLM_AUTO_INIT"] = "0"
from lllm.sandbox import AgentInterpreter, SubprocessExecutor
it = AgentInterpreter(None, timeout=20, backend=SubprocessExecutor())
print(it.run("import os\\nopen('model-wrote.txt', 'w').write('x')\\nprint(os.getcwd())").strip(), flush=True)
if sys.argv[1] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()  # a live owner: holds its sandbox until the test closes stdin
it.close()
"""


def _owner(mode: str) -> "tuple[subprocess.Popen[str], str]":
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    workdir = proc.stdout.readline().strip().splitlines()[-1]
    assert os.path.basename(workdir).startswith(f"lllm-sandbox-{proc.pid}.")
    return proc, workdir


def _start_a_sandbox_elsewhere() -> None:
    code = (
        "import os; os.environ['LLLM_AUTO_INIT'] = '0'\n"
        "from lllm.sandbox import AgentInterpreter, SubprocessExecutor\n"
        "it = AgentInterpreter(None, timeout=20, backend=SubprocessExecutor()); print(it.run('print(1)')); it.close()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr


def test_a_killed_owners_folder_is_removed_by_the_next_sandbox_and_a_live_owners_is_kept() -> None:
    dead, dead_dir = _owner("die")
    assert dead.wait(timeout=60) == -signal.SIGKILL
    assert os.path.exists(os.path.join(dead_dir, "model-wrote.txt"))  # SIGKILL ran no cleanup
    live, live_dir = _owner("live")
    try:
        _start_a_sandbox_elsewhere()
        assert not os.path.exists(dead_dir)
        assert os.path.exists(os.path.join(live_dir, "model-wrote.txt"))
    finally:
        live.communicate("", timeout=60)
    assert live.returncode == 0 and not os.path.exists(live_dir)


def test_folders_not_named_for_a_dead_owner_in_this_pid_namespace_are_left_alone(tmp_path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    ns = int(scratch.prefix().split(".")[1].split("-")[0])
    keep = [
        f"lllm-sandbox-{gone.pid}.{ns + 1}-abc",  # another pid namespace: its owner may live there
        "lllm-sandbox-uids",  # no owner in the name
        f"lllm-sandbox-{os.getpid()}.{ns}-abc",  # this process's own
        f"other-{gone.pid}.{ns}-abc",
    ]
    drop = [f"lllm-sandbox-{gone.pid}.{ns}-abc", f"lllm-sandbox-imports-{gone.pid}.{ns}-def"]
    for name in keep + drop:
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    (tmp_path / f"lllm-sandbox-{gone.pid}.{ns}-file").write_text("a file, not a folder")
    assert scratch.remove_orphans(str(tmp_path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, f"lllm-sandbox-{gone.pid}.{ns}-file"])


def test_scratch_folders_are_private_and_carry_the_owner() -> None:
    path = scratch.make_dir("kernel")
    try:
        assert os.path.dirname(path) == tempfile.gettempdir()
        assert os.path.basename(path).startswith(f"lllm-sandbox-kernel-{os.getpid()}.")
        assert oct(os.stat(path).st_mode & 0o777) == "0o700"
    finally:
        os.rmdir(path)
