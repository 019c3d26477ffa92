"""The ``bwrap`` backend: the subprocess worker inside bubblewrap (``bwrap``) namespaces.

The worker protocol and process handling are ``SubprocessExecutor``'s; only the command differs. The
worker gets new PID, network, IPC and UTS namespaces (and a user namespace when the parent is not
root), ``/proc`` of its own PID namespace, a minimal ``/dev``, read-only binds of the system (``/usr``),
the interpreter and exactly its import folders (credential files directly in them, such as the ``.env`` of
a project root an editable install puts on ``sys.path``, read as empty), and one writable directory: its
work dir. Nothing else
of the host file system exists inside, the network has only its own loopback, it cannot see or signal
the parent, it dies with the parent (``--die-with-parent``), every process it leaves behind dies with it
(its PID namespace), and ``RLIMIT_NPROC`` bounds forks (counted per user namespace).

As root, bwrap sets the sandbox up and the worker then drops to a uid of its own (no user namespace:
one would map the sandbox to host uid 0), and a memory cgroup caps the worker and its children together."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import threading
from typing import Any, Dict, List, Optional, Tuple

from lllm.sandbox import worker as _worker
from lllm.sandbox.executor import SandboxError
from lllm.sandbox.isolation import can_drop_privileges, minimal_env
from lllm.sandbox.subprocess_backend import SubprocessExecutor

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap) and "
    "allow unprivileged user namespaces (sysctl user.max_user_namespaces > 0; on Ubuntu also "
    "kernel.apparmor_restrict_unprivileged_userns=0), or use backend='subprocess'"
)
SHM_BYTES = 64 << 20  # /dev/shm inside (POSIX shared memory, multiprocessing locks): a small private tmpfs
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
_QUERY = (
    "import json, sys, sysconfig\n"
    "print(json.dumps({'path': sys.path, 'lib': [sysconfig.get_config_var('LIBDIR') or '', "
    "sysconfig.get_config_var('INSTSONAME') or '']}))"
)

_lock = threading.Lock()
_spawner: Optional[concurrent.futures.ThreadPoolExecutor] = None
_status: Dict[Tuple[str, bool], Tuple[bool, str]] = {}
_pythons: Dict[str, Dict[str, Any]] = {}


def _namespaces(user_namespace: bool, network: bool = False) -> List[str]:
    flags = [
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
    ]
    if not network:
        flags.append("--unshare-net")
    if user_namespace:
        flags.append("--unshare-user")
    return flags


def bwrap_status(bwrap: str = "bwrap", user_namespace: Optional[bool] = None) -> Tuple[bool, str]:
    """``(True, path)`` when ``bwrap`` is on PATH and can create the sandbox's namespaces here, else
    ``(False, why)``. Probed once per setting (a real ``bwrap ... true``), then cached; thread-safe."""
    if user_namespace is None:
        user_namespace = not can_drop_privileges()
    key = (bwrap, user_namespace)
    with _lock:
        if key not in _status:
            _status[key] = _probe(bwrap, user_namespace)
        return _status[key]


def _probe(bwrap: str, user_namespace: bool) -> Tuple[bool, str]:
    path = shutil.which(bwrap)
    if path is None:
        return False, f"{bwrap!r} is not on PATH"
    command = [path, *_namespaces(user_namespace), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=20, env={})
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{path} could not be run ({e})"
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip()[-500:] or f"exit status {done.returncode}"
        return False, f"{path} cannot create namespaces here: {why}"
    return True, path


def python_layout(python: str) -> Dict[str, Any]:
    """What ``python -I`` imports from (``path``) and its shared library (``lib``), asked once per interpreter."""
    with _lock:
        if python not in _pythons:
            try:
                done = subprocess.run(
                    [python, "-I", "-c", _QUERY],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=30,
                    env=minimal_env(os.getcwd()),
                )
                _pythons[python] = json.loads(done.stdout)
            except (OSError, subprocess.TimeoutExpired, ValueError) as e:
                raise SandboxError(f"could not ask the interpreter {python!r} for its import folders: {e}") from e
        return _pythons[python]


def _ancestors(path: str) -> List[str]:
    found, path = [], os.path.dirname(path)
    while path not in ("/", ""):
        found.append(path)
        path = os.path.dirname(path)
    return found


def _popen(command: List[str], popen_kwargs: Dict[str, Any]) -> subprocess.Popen[Any]:
    return subprocess.Popen(command, **popen_kwargs)


def _inside(path: str, dirs: List[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


class BwrapExecutor(SubprocessExecutor):
    """``SubprocessExecutor`` whose worker runs inside bubblewrap namespaces (see the module doc).

    ``bwrap``: the program (default: ``bwrap`` on PATH). Raises ``SandboxError`` saying why and what to
    install when bubblewrap is missing or cannot create namespaces here."""

    backend_name = "bwrap"

    def __init__(self, *, bwrap: str = "bwrap", **kwargs: Any):
        super().__init__(**kwargs)
        ok, found = bwrap_status(bwrap, user_namespace=not self.drop_privileges)
        if not ok:
            raise SandboxError(f"the 'bwrap' sandbox backend is not usable here: {found}; {INSTALL_HINT}")
        self.bwrap = found

    def worker_config(self) -> Dict[str, Any]:
        return {
            **super().worker_config(),
            "imports_bound": True,
            "network_isolated": not self.allow_network,
            "own_user_namespace": not self.drop_privileges,
        }

    def spawn(self, command: List[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        """Start bwrap from one long-lived thread: ``--die-with-parent`` follows the thread that forked it, so a
        worker started from a short-lived thread would otherwise die when that thread ends."""
        global _spawner
        with _lock:
            if _spawner is None:
                _spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lllm-bwrap-spawner")
        return _spawner.submit(_popen, command, popen_kwargs).result()

    def worker_exit_code(self, code: Optional[int]) -> Optional[int]:
        """bwrap exits with 128 + N when the worker was killed by signal N."""
        if code is not None and 128 < code < 128 + 65:
            return -(code - 128)
        return code

    def wrap_command(self, command: List[str], workdir: str, uid: Optional[int]) -> List[str]:
        python = os.path.abspath(command[0])
        python = os.path.join(os.path.realpath(os.path.dirname(python)), os.path.basename(python))  # /bin -> /usr/bin
        args: List[str] = []  # binds; the directories above them are made first, below
        bound: List[str] = []

        def ro(source: str, dest: Optional[str] = None) -> None:
            dest = dest or source
            if not _inside(dest, bound):
                args.extend(["--ro-bind", source, dest])
                bound.append(dest)

        links = []
        for d in _SYSTEM_DIRS:
            if os.path.islink(d):
                links.extend(["--symlink", os.readlink(d), d])
            elif os.path.isdir(d):
                ro(d)
        for f in _ETC_FILES:
            if os.path.exists(f):
                ro(f)
        ro(os.path.realpath(python), python)  # a file at the path it is run as: a venv finds its pyvenv.cfg
        for cfg in (
            os.path.join(os.path.dirname(python), "pyvenv.cfg"),
            os.path.join(os.path.dirname(os.path.dirname(python)), "pyvenv.cfg"),
        ):
            if os.path.isfile(cfg):
                ro(cfg)
        layout = python_layout(python)
        libdir, soname = layout.get("lib") or ["", ""]
        if libdir and soname and os.path.exists(os.path.join(libdir, soname)):
            ro(os.path.join(libdir, soname))
        masks: List[str] = []
        for entry in layout.get("path") or []:
            if isinstance(entry, str) and os.path.isabs(entry) and os.path.exists(entry):
                ro(os.path.normpath(entry))
                for secret in _worker.secret_files(entry):  # e.g. the .env of a project root on sys.path
                    masks.extend(["--ro-bind", os.devnull, os.path.normpath(secret)])
        ro(os.path.abspath(_worker.__file__))
        args.extend(masks)  # after the folders they are in
        # Every directory above a bind: root-owned (or the user's, in a user namespace), 0755, read-only.
        parents = sorted(
            {p for dest in [*bound, workdir] for p in _ancestors(dest) if not _inside(p, bound) and p not in links},
            key=lambda p: p.count("/"),
        )
        head = [self.bwrap, *_namespaces(uid is None, self.allow_network), "--hostname", "lllm-sandbox"]
        for p in parents:
            head.extend(["--perms", "0755", "--dir", p])
        args = [
            *head,
            *links,
            *args,
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--perms",
            "1777",
            "--size",
            str(SHM_BYTES),
            "--tmpfs",
            "/dev/shm",
            "--bind",
            workdir,
            workdir,
            "--remount-ro",
            "/",
            "--chdir",
            workdir,
            "--clearenv",
        ]
        for key, value in minimal_env(workdir).items():
            args.extend(["--setenv", key, value])
        if uid is not None:  # bwrap runs privileged; the worker needs these two to become its own uid
            args.extend(["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"])
        else:  # no capabilities inside the user namespace either (bwrap keeps them for uid 0 there)
            args.extend(["--cap-drop", "ALL"])
        return [*args, "--", python, *command[1:]]


__all__ = ["BwrapExecutor", "bwrap_status", "python_layout", "INSTALL_HINT"]
