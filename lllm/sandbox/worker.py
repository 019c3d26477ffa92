"""The sandbox worker: a persistent Python process that runs code for one ``SubprocessExecutor``.

Started as ``python -I worker.py '<json config>'`` in its own session and working directory. Its
stdin/stdout are the control channel (4-byte big-endian length + UTF-8 JSON frames); user code never
sees them: its stdout and stderr go, in order, to one capped in-memory file. ``CALL_API`` sends
``(path, params)`` to the parent and blocks for the answer, so proxies and keys stay in the parent.

Stdlib only, and importable by the parent: the framing and ``run_cell`` helpers are shared with the
parent and the in-process backend.

Messages, parent → worker: ``{"op": "run", "code", "timeout"}``, ``{"op": "api_result", "ok", "value" |
"type", "message"}``, ``{"op": "exit"}``; worker → parent: ``{"op": "ready", "pid", "uid", "network",
"imports", "unenforced_limits"}``, ``{"op": "api", "path", "params"}``, ``{"op": "done", "output", "error", "overflow"}``."""

from __future__ import annotations

import builtins
import errno
import json
import linecache
import os
import re
import stat
import struct
import sys
import threading
import traceback
import types
from typing import Any, Callable, Dict, Iterable, List, Optional, Set

HEADER = struct.Struct(">I")
MAX_FRAME = 64 << 20  # bytes; a larger frame is a protocol error
MAX_TRACEBACK_CHARS = 20_000
_HIDDEN_FILES = {__file__}  # frames from these files are left out of user tracebacks
# Files that hold credentials by convention; in an import folder given to the sandbox (a project root on
# sys.path through an editable install) each is replaced by an empty file.
_SECRET_FILE = re.compile(r"\.env(\..*)?|\.netrc|\.pypirc|\.git-credentials")


# ---------------------------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------------------------


def encode_frame(obj: Any) -> bytes:
    """One frame: the length header and ``obj`` as JSON (values JSON cannot encode become ``str``)."""
    body = json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    return HEADER.pack(len(body)) + body


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("control channel closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> Dict[str, Any]:
    """The next frame from ``fd`` (blocking); ``EOFError`` when the other side is gone."""
    (size,) = HEADER.unpack(_read_exact(fd, HEADER.size))
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte limit")
    frame: Dict[str, Any] = json.loads(_read_exact(fd, size).decode("utf-8", "surrogatepass"))
    return frame


def write_frame(fd: int, obj: Any) -> None:
    data = memoryview(encode_frame(obj))
    while data:
        data = data[os.write(fd, data) :]


# ---------------------------------------------------------------------------------------------
# Running code (shared with the in-process backend)
# ---------------------------------------------------------------------------------------------


class OutputBudget:
    """How many more bytes of output a cell may produce; ``overflow`` records that some were dropped."""

    def __init__(self, limit: int):
        self.left = limit
        self.overflow = False


class Capture:
    """A stand-in for ``sys.stdout``/``sys.stderr``: text goes to ``sink`` as UTF-8 until the shared
    budget is spent; the rest is dropped (so a flood costs CPU time, not memory)."""

    encoding = "utf-8"
    errors = "backslashreplace"
    closed = False
    line_buffering = False

    def __init__(self, sink: Callable[[bytes], None], budget: OutputBudget, fd: Optional[int] = None):
        self._sink = sink
        self.budget = budget
        self._fd = fd
        self.buffer = _BinaryCapture(self)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.budget.left <= 0:
            self.budget.overflow = self.budget.overflow or bool(text)
        else:
            self.emit(text.encode("utf-8", "backslashreplace"))
        return len(text)

    def emit(self, data: bytes) -> None:
        """Send ``data`` to the sink, as much as the budget allows."""
        budget = self.budget
        if len(data) > budget.left:
            data = data[: max(budget.left, 0)]
            budget.overflow = True
        if data:
            budget.left -= len(data)
            self._sink(data)

    def reconfigure(self, **kwargs: Any) -> None:
        """Accepted and ignored: output is always captured as UTF-8 (``sys.stdout.reconfigure(encoding=...)``)."""

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def fileno(self) -> int:
        if self._fd is None:
            raise OSError("this stream has no file descriptor")
        return self._fd


class _BinaryCapture:
    """``sys.stdout.buffer`` of a ``Capture``: bytes go to the same sink, under the same budget."""

    closed = False

    def __init__(self, text: Capture):
        self._text = text

    def write(self, data: Any) -> int:
        data = bytes(memoryview(data))  # bytes-like, as a binary file accepts
        self._text.emit(data)
        return len(data)

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._text.fileno()


def _strip_frames(te: Optional[traceback.TracebackException], hidden: Set[str], seen: Set[int]) -> None:
    """Drop framework frames from ``te`` and the exceptions chained to it."""
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename not in hidden])
        if te.__context__ is not None and te.__context__ is not te.__cause__:
            _strip_frames(te.__context__, hidden, seen)
        te = te.__cause__


def _utf8(text: str) -> str:
    """``text`` with lone surrogates (``'\\ud800'`` in an exception message) escaped: the model's API needs UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def shorten_lines(text: str, width: int) -> str:
    """``text`` with each line longer than ``width`` cut in its middle: its start (``ValueError: ...``) stays.
    A ``width`` too small to show both ends around the marker leaves ``text`` as it is."""
    marker = " ... (cut) ... "
    if len(text) <= width or width < 4 * len(marker):
        return text
    keep = max(width - len(marker), 0)
    lines = text.splitlines(True)
    for i, line in enumerate(lines):
        body = line.rstrip("\n")
        if len(body) > width:
            lines[i] = body[: keep - keep // 2] + marker + body[len(body) - keep // 2 :] + line[len(body) :]
    return "".join(lines)


def format_user_traceback(exc: BaseException, hidden: Iterable[str] = ()) -> str:
    """The traceback of ``exc`` as the user's code sees it: no frames of the sandbox itself."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    _strip_frames(te, _HIDDEN_FILES | set(hidden), set())
    text = _utf8("".join(te.format()))
    if len(text) > MAX_TRACEBACK_CHARS:  # keep the end, with long lines cut: it names the exception
        text = "... (traceback shortened)\n" + shorten_lines(text, MAX_TRACEBACK_CHARS // 4)[-MAX_TRACEBACK_CHARS:]
    return text


def run_cell(code: str, namespace: Dict[str, Any], name: str, hidden: Iterable[str] = ()) -> Optional[str]:
    """Run ``code`` as a module body in ``namespace`` (the last expression is not echoed).

    Returns the user-facing traceback if it raised (any ``BaseException``, ``SystemExit`` included)."""
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)  # source lines in tracebacks
    try:
        compiled = compile(code, name, "exec")
    except (SyntaxError, ValueError, OverflowError) as e:
        return _utf8("".join(traceback.format_exception_only(type(e), e)))
    try:
        exec(compiled, namespace)  # noqa: S102 - running the model's code is the purpose of this module
    except BaseException as e:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are user errors here too
        return format_user_traceback(e, hidden)
    return None


def api_exception(type_name: str, message: str) -> Exception:
    """The exception ``CALL_API`` raises for a failed call: the builtin type of that name, else RuntimeError."""
    exc_type = getattr(builtins, type_name, None)
    if isinstance(exc_type, type) and issubclass(exc_type, Exception) and exc_type is not Exception:
        return exc_type(message)
    return RuntimeError(f"{type_name}: {message}")


# ---------------------------------------------------------------------------------------------
# Worker process
# ---------------------------------------------------------------------------------------------


class _Worker:
    """The worker's state: control fds, the output file, the namespace and the CALL_API gate."""

    def __init__(self, config: Dict[str, Any]):
        self.config = config
        self.ctl_in = os.dup(0)  # dups are non-inheritable: subprocesses of user code never get them
        self.ctl_out = os.dup(1)
        self.out_fd = _output_file()
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(self.out_fd, 1)  # subprocesses and C code write here too, in order with Python output
        os.dup2(self.out_fd, 2)
        os.close(devnull)
        self.limit = int(config.get("max_output_bytes") or (16 << 20))
        self.budget = OutputBudget(self.limit)
        self.streams = (
            open(os.devnull),
            Capture(self._sink, self.budget, 1),  # noqa: SIM115 - process lifetime
            Capture(self._sink, self.budget, 2),
        )
        sys.stdin, sys.stdout, sys.stderr = self.streams
        # the originals too, so user code cannot write around the capture (typeshed declares them Final)
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = self.streams  # type: ignore[misc, assignment]
        self.api_lock = threading.Lock()
        self.running = False
        self.pid = os.getpid()  # a forked child shares the control channel: it must not use it
        self.cells = 0
        # Cells run in the globals of a fresh ``__main__`` module, as a script's do: pickle, multiprocessing and
        # typing find what a cell defines as ``__main__.<name>``. (The worker's own code keeps its globals.)
        main = types.ModuleType("__main__")
        main.__dict__.update(__builtins__=builtins, CALL_API=self.call_api)
        sys.modules["__main__"] = main
        self.namespace: Dict[str, Any] = main.__dict__

    def _sink(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:  # the same open file as fds 1 and 2, so order is kept even if user code closes those
                view = view[os.write(self.out_fd, view) :]
        except OSError as e:  # EFBIG: a child process filled the file up to max_file_mb; print() must not fail
            if e.errno != errno.EFBIG:
                raise
            self.budget.overflow = True

    def call_api(self, path: str, params: Optional[Dict[str, Any]] = None, **kw: Any) -> Any:
        """Call an API endpoint through the host, e.g. ``CALL_API("bookstore/books/search", {"q": "dune"})``.

        Returns the JSON response as Python data; a bad path or parameter raises (KeyError, ValueError, ...)."""
        if not isinstance(path, str):
            raise TypeError(f"CALL_API: path must be a string like 'proxy/endpoint', got {type(path).__name__}")
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"CALL_API: params must be a dict, got {type(params).__name__}")
        params = {**(params or {}), **kw}
        if os.getpid() != self.pid:
            raise RuntimeError(
                "CALL_API cannot be called from a child process (multiprocessing, os.fork): the interpreter's "
                "own process answers it. Run calls concurrently with threads instead, e.g. "
                "concurrent.futures.ThreadPoolExecutor"
            )
        with self.api_lock:
            if not self.running:
                raise RuntimeError("CALL_API can only be called while a run_python call is executing")
            write_frame(self.ctl_out, {"op": "api", "path": path, "params": params})
            reply = read_frame(self.ctl_in)
        if reply.get("ok"):
            return reply.get("value")
        raise api_exception(str(reply.get("type")), str(reply.get("message")))

    def run(self, code: str, timeout: float) -> Dict[str, Any]:
        self.cells += 1
        self.budget.left, self.budget.overflow = self.limit, False
        sys.stdin, sys.stdout, sys.stderr = self.streams  # in case the last cell replaced them
        _set_cpu_limit(timeout)
        self.running = True
        try:
            error = run_cell(code, self.namespace, f"<cell {self.cells}>")
        finally:
            with self.api_lock:
                self.running = False
        data = os.pread(self.out_fd, self.limit + 1, 0)
        os.ftruncate(self.out_fd, 0)
        os.lseek(self.out_fd, 0, os.SEEK_SET)
        overflow = self.budget.overflow or len(data) > self.limit
        return {
            "op": "done",
            "output": data[: self.limit].decode("utf-8", "replace"),
            "error": error,
            "overflow": overflow,
        }

    def serve(self, network: str, unenforced: List[str], imports: str = "reachable") -> None:
        write_frame(
            self.ctl_out,
            {
                "op": "ready",
                "pid": os.getpid(),
                "uid": os.getuid(),
                "network": network,
                "imports": imports,
                "unenforced_limits": unenforced,
            },
        )
        while True:
            msg = read_frame(self.ctl_in)
            op = msg.get("op")
            if op == "run":
                write_frame(self.ctl_out, self.run(str(msg.get("code", "")), float(msg.get("timeout") or 60)))
            elif op == "exit":
                return
            else:
                write_frame(
                    self.ctl_out,
                    {
                        "op": "done",
                        "output": "",
                        "overflow": False,
                        "error": f"sandbox worker: unknown request {op!r}\n",
                    },
                )


def _output_file() -> int:
    """An anonymous file for captured output (a memfd on Linux, else an unlinked file in the cwd)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("lllm-output")
    else:
        import tempfile

        fd, path = tempfile.mkstemp(dir=".")
        os.unlink(path)
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
    return fd


def _set_cpu_limit(timeout: float) -> None:
    """A CPU-seconds backstop for this run (and processes it forks), just above the parent's wall clock: CPU
    seconds count every thread, so each core this process may use gets the whole timeout."""
    import resource

    used = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if timeout == float("inf"):  # no time limit: the hard limit only
        soft = hard
    else:
        soft = int(used + timeout * cores) + 2
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _apply_limits(config: Dict[str, Any]) -> List[str]:
    """Set the resource limits; returns the names of those this system refused."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing us
    mb = 1 << 20
    limits = [("core", resource.RLIMIT_CORE, 0)]
    if config.get("max_memory_mb"):
        limits.append(("max_memory_mb", resource.RLIMIT_AS, int(config["max_memory_mb"]) * mb))
    if config.get("max_file_mb"):
        limits.append(("max_file_mb", resource.RLIMIT_FSIZE, int(config["max_file_mb"]) * mb))
    if config.get("max_processes") and (config.get("uid") is not None or config.get("own_user_namespace")):
        # counted per user (per user namespace): only meaningful for a uid or a user namespace of our own
        limits.append(("max_processes", resource.RLIMIT_NPROC, int(config["max_processes"])))
    refused = []
    for name, which, value in limits:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):  # e.g. RLIMIT_AS on macOS
            refused.append(name)
    return refused


def _reachable(path: str) -> bool:
    """Whether any user can traverse every directory from ``/`` down to ``path`` (and list it, if a directory)."""
    path = os.path.abspath(path)
    try:
        if os.path.isdir(path) and not stat.S_IMODE(os.stat(path).st_mode) & stat.S_IROTH:
            return False
        path = os.path.dirname(path) if not os.path.isdir(path) else path
        while True:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
            parent = os.path.dirname(path)
            if parent == path:
                return True
            path = parent
    except OSError:
        return False


def secret_files(folder: str) -> List[str]:
    """The credential files (``.env``, ``.env.*``, ``.netrc``, ...) directly in ``folder``, and its
    ``.git/config`` (remote URLs often carry a token)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    paths = [os.path.join(folder, n) for n in names if _SECRET_FILE.fullmatch(n)]
    paths.append(os.path.join(folder, ".git", "config"))
    return [p for p in paths if os.path.isfile(p) and not os.path.islink(p)]


_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18


def _mount(source: Optional[str], target: str, fstype: Optional[str], flags: int, data: Optional[str] = None) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def enc(v: Optional[str]) -> Optional[bytes]:
        return v.encode() if v is not None else None

    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source or fstype} on {target}: {os.strerror(err)}")


def _unshare(flags: int) -> None:
    if hasattr(os, "unshare"):
        os.unshare(flags)
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")


def _mount_imports(root: str) -> str:
    """Before dropping privileges: import folders the sandbox user cannot reach (e.g. Python under ``/root``)
    are bind-mounted read-only, each on its own, under ``root`` in a mount namespace of this process, and
    used from there. ``..`` from such a mount leads to ``root``, never to the folder's real parent, and no
    directory handle is kept. Returns ``"reachable"`` (nothing to do) or ``"mounted"``."""
    entries = [os.path.abspath(p) for p in sys.path if p and os.path.exists(p)]
    hidden = list(dict.fromkeys(p for p in entries if not _reachable(p)))
    if not hidden:
        return "reachable"
    clone_newns = 0x00020000
    try:
        _unshare(clone_newns)
        _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        _mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=64k")
        remap: Dict[str, str] = {}
        for i, entry in enumerate(hidden):
            target = os.path.join(root, str(i))
            if os.path.isdir(entry):
                os.mkdir(target, 0o755)
            else:
                open(target, "x").close()  # noqa: SIM115 - a mount point for a zip file
            _mount(entry, target, None, _MS_BIND | _MS_REC)
            _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
            for secret in secret_files(target):  # e.g. the .env of a project root on sys.path
                _mount(os.devnull, secret, None, _MS_BIND)
            remap[entry] = target
        _mount(None, root, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    except OSError as e:
        raise SystemExit(
            f"sandbox worker: cannot give the sandbox user read-only access to the import folders "
            f"{hidden} ({e}); mount namespaces need CAP_SYS_ADMIN. Install Python where every user "
            f"can read it, use the 'bwrap' backend, or drop_privileges=False"
        ) from None

    def moved(p: str) -> str:
        for old, new in sorted(remap.items(), key=lambda kv: -len(kv[0])):  # the deepest mount wins
            if p == old or p.startswith(old + os.sep):
                return new + p[len(old) :]
        return p

    sys.path[:] = [moved(p) for p in sys.path]  # entries that are not paths (path hooks) stay as they are
    for module in list(sys.modules.values()):
        search = getattr(module, "__path__", None)
        if isinstance(search, list):
            search[:] = [moved(p) for p in search]
    sys.path_importer_cache.clear()
    return "mounted"


def _isolate_network() -> bool:
    """Move into a new, empty network namespace (needs privileges; Linux only). True on success."""
    clone_newnet = 0x40000000
    try:
        if hasattr(os, "unshare"):
            os.unshare(clone_newnet)
            return True
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        code: int = libc.unshare(clone_newnet)
        return code == 0
    except (OSError, AttributeError):
        return False


def _block_sockets() -> None:
    """Best effort: Python-level internet sockets raise ``PermissionError`` (``_socket`` bypasses this)."""
    import socket

    class BlockedSocket(socket.socket):
        def __init__(self, family: int = -1, type: int = -1, proto: int = -1, fileno: Any = None):
            if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
                raise PermissionError("network access is disabled in this sandbox; use CALL_API for data")
            super().__init__(family, type, proto, fileno)

    socket.socket = BlockedSocket  # type: ignore[misc]


def _drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:  # pragma: no cover - defensive
        raise SystemExit("sandbox worker: could not drop privileges")


def _watch_parent(parent: int) -> None:
    """Exit when the parent is gone (reparented), even in the middle of user code."""
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(70)


def _join_cgroup(fd: int) -> bool:
    """Join the memory cgroup whose ``cgroup.procs`` the parent opened for us (``0``: the writing process)."""
    try:
        os.write(fd, b"0")
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def main(argv: List[str]) -> int:
    config = json.loads(argv[1])
    parent = os.getppid()
    joined = True
    if config.get("cgroup_fd") is not None:  # first: every process this worker forks is counted from now on
        joined = _join_cgroup(int(config["cgroup_fd"]))
    unenforced = _apply_limits(config) + ([] if joined else ["max_total_memory_mb"])
    network = "open"
    if not config.get("allow_network"):
        if config.get("network_isolated"):
            network = "namespace"
        else:
            network = "namespace" if config.get("uid") is not None and _isolate_network() else "patched"
    imports = "bound" if config.get("imports_bound") else "reachable"
    if config.get("uid") is not None:
        if not config.get("imports_bound") and config.get("import_root"):
            imports = _mount_imports(str(config["import_root"]))
        _drop_privileges(int(config["uid"]), int(config["gid"]))
    if not config.get("allow_network"):
        _block_sockets()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="lllm-parent-watch").start()
    worker = _Worker(config)
    try:
        worker.serve(network, unenforced, imports)
    except EOFError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
