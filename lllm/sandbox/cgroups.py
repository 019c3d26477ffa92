"""A memory cgroup per sandbox worker (root only): one cap on the worker and all its children together.

``MemoryCgroup.create`` makes a child of this process's own cgroup, with cgroup v2 where its memory
controller is available and writable, else the cgroup v1 ``memory`` controller; ``None`` when neither
is usable (not root, no controller, a read-only ``/sys/fs/cgroup``). The worker joins it itself, through
an inherited descriptor of ``cgroup.procs``, before it runs any code; ``remove`` deletes it."""

from __future__ import annotations

import os
import secrets
import signal
import time
from typing import List, Optional

from lllm.sandbox.scratch import alive

CGROUP_ROOT = "/sys/fs/cgroup"
PREFIX = "lllm-sandbox-"  # + owner pid + "-" + random hex


def _own_path(controller: str) -> Optional[str]:
    """This process's cgroup path for a v1 ``controller``, or for v2 with ``""``."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, names, path = line.rstrip("\n").split(":", 2)
                if (controller and controller in names.split(",")) or (not controller and names == ""):
                    return path
    except (OSError, ValueError):
        pass
    return None


def _v2_parent() -> Optional[str]:
    """A v2 directory under which a child with the memory controller can be made, or ``None``."""
    own = _own_path("")
    for mount in (CGROUP_ROOT, os.path.join(CGROUP_ROOT, "unified")):
        if own is None or not os.path.exists(os.path.join(mount, "cgroup.controllers")):
            continue
        parent = os.path.join(mount, own.lstrip("/"))
        try:
            with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                if "memory" in f.read().split():
                    return parent
            with open(os.path.join(parent, "cgroup.controllers")) as f:
                if "memory" not in f.read().split():
                    continue
            with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                f.write("+memory")  # fails while the cgroup itself holds processes (except the root cgroup)
            return parent
        except OSError:
            continue
    return None


class MemoryCgroup:
    """One cgroup capping the memory of a worker and its descendants together."""

    def __init__(self, path: str, version: int):
        self.path = path
        self.version = version

    @classmethod
    def create(cls, limit_bytes: int) -> Optional["MemoryCgroup"]:
        """A new cgroup with ``limit_bytes`` (no swap beyond it), or ``None`` where cgroups are unusable."""
        if not hasattr(os, "geteuid") or os.geteuid() != 0 or limit_bytes <= 0:
            return None
        name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"  # the owner's pid: see _remove_orphans
        parent = _v2_parent()
        if parent is not None:
            files = [("memory.max", limit_bytes), ("memory.swap.max", 0)]
            version = 2
        else:
            own = _own_path("memory")
            parent = os.path.join(CGROUP_ROOT, "memory", (own or "").lstrip("/"))
            files = [("memory.limit_in_bytes", limit_bytes), ("memory.memsw.limit_in_bytes", limit_bytes)]
            version = 1
            if own is None or not os.path.isdir(parent):
                return None
        _remove_orphans(parent, version)
        path = os.path.join(parent, name)
        try:
            os.mkdir(path, 0o755)
        except OSError:
            return None
        group = cls(path, version)
        try:
            for file, value in files:
                target = os.path.join(path, file)
                if os.path.exists(target) or file in ("memory.max", "memory.limit_in_bytes"):
                    with open(target, "w") as f:
                        f.write(str(value))
        except OSError:
            group.remove()
            return None
        return group

    def open_procs(self) -> int:
        """A write descriptor of ``cgroup.procs``: the worker writes ``0`` to it to join (then closes it)."""
        return os.open(os.path.join(self.path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)

    def oom_kills(self) -> int:
        """How many processes the kernel killed in this cgroup for exceeding the limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(self.path, name)) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def pids(self) -> List[int]:
        """The processes in the cgroup (pids as this process sees them)."""
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(line) for line in f if line.strip()]
        except (OSError, ValueError):
            return []

    def remove(self, wait_s: float = 3.0) -> None:
        """Kill whatever is left in the cgroup, then delete it (retrying while the kernel tears processes down)."""
        deadline = time.monotonic() + wait_s
        while True:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.02)


def _remove_orphans(parent: str, version: int) -> None:
    """Delete the sandbox cgroups beside ours whose owner process is gone (killed before it could remove them),
    with anything still running in them. A cgroup whose owner lives, or whose name has no pid, is left alone."""
    try:
        names = [n for n in os.listdir(parent) if n.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        pid_text = name[len(PREFIX) :].partition("-")[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or alive(int(pid_text)):
            continue
        MemoryCgroup(os.path.join(parent, name), version).remove(wait_s=0.5)


__all__ = ["MemoryCgroup"]
