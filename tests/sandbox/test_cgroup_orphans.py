"""A sandbox cgroup left by a process killed before it could remove it (SIGKILL) is deleted, with whatever
still runs in it, when the next sandbox cgroup beside it is made; a live owner's cgroup is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lllm.sandbox.cgroups import MemoryCgroup

OWNER = """
import os, subprocess, sys
from lllm.sandbox.cgroups import MemoryCgroup
group = MemoryCgroup.create(64 << 20)
child = subprocess.Popen(["sleep", "300"], start_new_session=True)
with open(os.path.join(group.path, "cgroup.procs"), "w") as f:
    f.write(str(child.pid))
print(group.path, child.pid, flush=True)
if sys.argv[1] == "die":
    os.kill(os.getpid(), 9)
sys.stdin.read()  # a live owner: waits until the test closes its stdin
group.remove()
"""


def _usable() -> bool:
    group = MemoryCgroup.create(64 << 20)
    if group is not None:
        group.remove()
    return group is not None


pytestmark = pytest.mark.skipif(not _usable(), reason="no writable memory cgroup here (needs root and cgroups)")


def _owner(mode: str) -> tuple:
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    path, child = proc.stdout.readline().split()
    return proc, path, int(child)


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):  # a zombie: dead, not yet reaped by init
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.05)
    return False


def test_a_killed_owners_cgroup_and_its_processes_are_removed_by_the_next_sandbox():
    live, kept, kept_child = _owner("live")  # first: making a cgroup removes the orphans already there
    dead, orphan, orphan_child = _owner("die")
    dead.wait(10)
    try:
        assert os.path.isdir(orphan) and os.path.isdir(kept)
        group = MemoryCgroup.create(64 << 20)
        assert group is not None
        group.remove()
        assert not os.path.exists(orphan) and _gone(orphan_child)
        assert os.path.isdir(kept) and not _gone(kept_child, timeout=0.2)
    finally:
        live.stdin.close()
        live.wait(10)
    assert not os.path.exists(kept) and _gone(kept_child)  # its owner removed it, and what ran in it
