"""Scratch folders of sandbox workers and kernels, named for the process that made them.

A process killed with SIGKILL runs no cleanup, so its workers' folders (and whatever model-written code
left in them) would stay in the temp dir for good. Each folder's name carries its owner's pid and pid
namespace; the first folder a process makes removes the ones whose owner is gone. A folder whose owner
lives, that another pid namespace made, or whose name has no owner, is left alone."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from typing import Optional

PREFIX = "lllm-sandbox-"
_NAME = re.compile(r"lllm-sandbox-(?:[a-z]+-)?(\d+)\.(\d+)-")
_lock = threading.Lock()
_swept = False


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def prefix(kind: str = "") -> str:
    """The name prefix for a new scratch folder of ``kind`` (letters, or none); sweeps orphans once."""
    global _swept
    if not _swept:
        with _lock:
            if not _swept:
                _swept = True
                remove_orphans()
    return f"{PREFIX}{kind + '-' if kind else ''}{os.getpid()}.{_pid_namespace()}-"


def make_dir(kind: str = "") -> str:
    """A new private scratch folder (mode 0700) in the temp dir."""
    return tempfile.mkdtemp(prefix=prefix(kind))


def remove_orphans(where: Optional[str] = None) -> int:
    """Remove the scratch folders in ``where`` (the temp dir) whose owner process is gone; how many went."""
    where = where or tempfile.gettempdir()
    me, ns, removed = os.getpid(), _pid_namespace(), 0
    try:
        names = os.listdir(where)
    except OSError:
        return 0
    for name in names:
        m = _NAME.match(name)
        if m is None or int(m.group(2)) != ns or int(m.group(1)) == me or alive(int(m.group(1))):
            continue
        path = os.path.join(where, name)
        if os.path.islink(path) or not os.path.isdir(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += not os.path.exists(path)
    return removed


__all__ = ["PREFIX", "alive", "make_dir", "prefix", "remove_orphans"]
