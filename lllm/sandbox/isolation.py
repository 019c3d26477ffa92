"""What keeps a sandbox worker apart from its parent: a minimal environment, and (when the parent runs
as root on Linux) a user id of its own.

A worker with its own uid cannot signal the parent or other workers, cannot read or write files that
only the parent's user may access, and its process count (``RLIMIT_NPROC``) is its own, so a fork
bomb stops at that limit. Ids are leased from a range nobody else uses, with a lock file per id so
that parallel processes never share one; every process of an id is killed when its lease ends."""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

#: Sandbox uids (and gids) are taken from [UID_BASE, UID_BASE + UID_COUNT): far above real accounts.
UID_BASE = 1_879_000_000
UID_COUNT = 1 << 16
ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_LEASE_DIR = os.path.join(tempfile.gettempdir(), "lllm-sandbox-uids")

_REAPER = """
import os, signal, sys
uid = int(sys.argv[1])
os.setgroups([]); os.setgid(uid); os.setuid(uid)
for _ in range(3):  # kill(-1) as that uid reaches exactly its processes; repeat for ones forked meanwhile
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        break
"""


def minimal_env(workdir: str) -> Dict[str, str]:
    """The worker's environment: a few locale/path variables, HOME and TMPDIR in its own directory, and
    ``USER``/``LOGNAME`` ``sandbox`` (its uid has no passwd entry: ``getpass.getuser()`` reads these).
    Nothing else is passed on, so provider keys and other secrets in the parent's environment stay there."""
    env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update(HOME=workdir, TMPDIR=workdir, PYTHONIOENCODING="utf-8", USER="sandbox", LOGNAME="sandbox")
    return env


def can_drop_privileges() -> bool:
    """True when workers can run under their own uid (the parent is root on a POSIX system)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0 and sys.platform != "darwin"


class UidLease:
    """Exclusive use of one sandbox uid by this process, until ``release()``."""

    def __init__(self, uid: int, lock_fd: int):
        self.uid = uid
        self._lock_fd: Optional[int] = lock_fd

    @classmethod
    def acquire(cls, attempts: int = 64) -> "UidLease":
        import fcntl

        os.makedirs(_LEASE_DIR, mode=0o700, exist_ok=True)
        info = os.lstat(_LEASE_DIR)
        if (
            info.st_uid != os.geteuid()
            or info.st_mode & 0o022
            or not os.path.isdir(_LEASE_DIR)
            or os.path.islink(_LEASE_DIR)
        ):
            raise RuntimeError(
                f"{_LEASE_DIR} must be a directory owned by uid {os.geteuid()} and writable only "
                f"by it; remove it and retry"
            )
        for _ in range(attempts):
            uid = UID_BASE + random.randrange(UID_COUNT)
            path = os.path.join(_LEASE_DIR, f"{uid}.lock")
            existed = os.path.exists(path)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    continue
                raise
            lease = cls(uid, fd)
            if existed:  # used before: a process left behind by a crashed parent must not survive
                kill_uid(uid)
            return lease
        raise RuntimeError(f"no free sandbox uid after {attempts} attempts in {_LEASE_DIR}")

    def release(self) -> None:
        """Kill every process of the uid, then free it."""
        if self._lock_fd is None:
            return
        kill_uid(self.uid)
        os.close(self._lock_fd)
        self._lock_fd = None


def kill_uid(uid: int, wait_s: float = 3.0) -> None:
    """SIGKILL every process running as ``uid`` (a short-lived helper becomes that uid and kills -1), and
    wait until none is left alive, so a caller never sees a half-dead sandbox."""
    deadline = time.monotonic() + wait_s
    while True:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", _REAPER, str(uid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={},
            timeout=10,
            check=False,
        )
        while live_processes(uid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not live_processes(uid) or time.monotonic() >= deadline:
            return


def live_processes(uid: int) -> List[int]:
    """Pids of the live (not zombie) processes of ``uid``, read from /proc (empty where there is none)."""
    found: List[int] = []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1 ").split()[0]) == uid and not fields.get("State", "").strip().startswith("Z"):
            found.append(int(pid))
    return found


__all__ = ["minimal_env", "can_drop_privileges", "UidLease", "kill_uid", "live_processes", "UID_BASE", "UID_COUNT"]
