"""The ``subprocess`` backend: a persistent worker process per interpreter (see ``worker.py``); the
``bwrap`` backend runs the same worker inside bubblewrap namespaces. ``docs/security.md`` has the table of
what each backend stops, measured by ``tests/sandbox/test_sandbox_hostile.py``.

- **Stopped:** runaway code. On timeout the worker's whole process group is killed (and, with its own
  uid, every process of that uid), then a fresh worker starts on the next run. CPU seconds, address
  space per process (``max_memory_mb``), file size and core dumps are limited with ``setrlimit``; Python
  output is capped inside the worker, and output of child processes (``os.system``) by ``max_file_mb``.
  ``CALL_API`` handlers run in the parent and are not interrupted: a slow one can outlast the timeout.
- **Kept out:** the parent's environment is not inherited (no provider keys), proxies and their
  credentials stay in the parent (``CALL_API`` is answered over a pipe), and the worker gets its own
  temporary directory as cwd, HOME and TMPDIR.
- **When the parent runs as root (Linux):** each worker runs under a uid of its own. Then it cannot
  signal the parent or other workers, cannot read the parent's ``/proc/<pid>/environ``, cannot read or
  write files that are not open to every user, a fork bomb stops at ``max_processes``, the network is an
  empty namespace, and a memory cgroup caps the worker and all its children together. Import folders the
  uid cannot reach are bind-mounted read-only in the worker's own mount namespace (no directory handle is
  kept, so nothing leads back to the private folders around them; a ``.env`` or other credential file
  directly in one reads as empty).
- **Not contained without root:** the worker shares the parent's uid, so it can signal (kill) the parent,
  read the parent's environment through ``/proc/<pid>/environ`` (keys included), read and write whatever
  that user can, and fork until the timeout kills its process group (processes that leave the group
  with ``setsid`` survive). **In every mode** it can read world-readable files by absolute path, write
  to world-writable directories such as ``/tmp``, and, where the network namespace is unavailable, open
  sockets through ``_socket`` (``socket.socket`` is blocked, best effort). Use the ``bwrap`` backend.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from typing import Any, Dict, List, Optional

from lllm.sandbox import scratch, worker as _worker
from lllm.sandbox.cgroups import MemoryCgroup
from lllm.sandbox.executor import ApiHandler, ExecResult, Executor, SandboxError, call_api
from lllm.sandbox.isolation import UidLease, can_drop_privileges, minimal_env

START_TIMEOUT_S = 15.0
_MAX_WAIT_S = 3600.0  # one select() at most (epoll refuses ~25 days; a timeout may be longer, even inf)


class _ChannelClosed(Exception):
    """The worker closed the control channel (it exited or was killed)."""


class _Deadline(Exception):
    """The run's time is up."""


class _Process:
    """One live worker: the process, its control pipes, its directory and (as root) its uid lease."""

    def __init__(self, executor: "SubprocessExecutor"):
        self.lease = UidLease.acquire() if executor.drop_privileges else None
        self.workdir: Optional[str] = None
        self.import_root: Optional[str] = None
        self.cgroup: Optional[MemoryCgroup] = None
        cgroup_fd = None
        config = executor.worker_config()
        try:
            self.workdir = scratch.make_dir()
            if self.lease is not None:
                os.chown(self.workdir, self.lease.uid, self.lease.uid)
                config = {**config, "uid": self.lease.uid, "gid": self.lease.uid}
                if not config.get("imports_bound"):  # an empty mount point for import folders (see worker.py)
                    self.import_root = scratch.make_dir("imports")
                    os.chmod(self.import_root, 0o755)
                    config["import_root"] = self.import_root
            total = executor.max_total_memory_mb
            self.cgroup = MemoryCgroup.create(total << 20) if total else None
            if self.cgroup is not None:
                cgroup_fd = self.cgroup.open_procs()
                os.set_inheritable(cgroup_fd, True)
                config = {**config, "cgroup_fd": cgroup_fd}
            command = executor.wrap_command(
                [*executor.worker_command(), json.dumps(config)],
                self.workdir,
                self.lease.uid if self.lease is not None else None,
            )
            self.proc = executor.spawn(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.workdir,
                env=minimal_env(self.workdir),
                start_new_session=True,
                close_fds=True,
                bufsize=0,
                pass_fds=() if cgroup_fd is None else (cgroup_fd,),
                **executor.popen_options(self.lease),
            )
        except BaseException as e:
            _cleanup(None, self.lease, self.workdir, self.import_root, self.cgroup)
            if isinstance(e, OSError):
                raise SandboxError(f"could not start the sandbox worker {executor.worker_command()[0]!r}: {e}") from e
            raise
        finally:
            if cgroup_fd is not None:
                os.close(cgroup_fd)
        self._finalizer = weakref.finalize(
            self, _cleanup, self.proc, self.lease, self.workdir, self.import_root, self.cgroup
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None  # started with pipes
        self.rfd = self.proc.stdout.fileno()
        self.wfd = self.proc.stdin.fileno()
        os.set_blocking(self.wfd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.rfd, selectors.EVENT_READ)
        self.buffer = bytearray()
        self.info: Dict[str, Any] = {}
        self.oom_kills = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self) -> None:
        try:
            self.info = self.recv(time.monotonic() + START_TIMEOUT_S)
        except (_ChannelClosed, _Deadline, ValueError) as e:
            stderr = self._stderr_text()
            self.stop()
            raise SandboxError(
                f"the sandbox worker did not start ({type(e).__name__}): {stderr or 'no output'}"
            ) from None
        if self.info.get("op") != "ready":
            self.stop()
            raise SandboxError(f"the sandbox worker sent {self.info!r} instead of 'ready'")
        assert self.proc.stderr is not None
        self.proc.stderr.close()  # the worker's own stderr now points at its output capture

    def _stderr_text(self) -> str:
        try:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=2)
            return (err or b"").decode("utf-8", "replace").strip()[-2000:]
        except Exception:  # noqa: BLE001 - best effort diagnostics
            return ""

    # -- framing with deadlines ------------------------------------------------------------------
    def send(self, obj: Any, deadline: float) -> None:
        data = memoryview(_worker.encode_frame(obj))
        while data:
            try:
                data = data[os.write(self.wfd, data) :]
            except BlockingIOError:
                self._wait(selectors.EVENT_WRITE, self.wfd, deadline)
            except (BrokenPipeError, ConnectionResetError):
                raise _ChannelClosed() from None

    def recv(self, deadline: float) -> Dict[str, Any]:
        size = None
        while True:
            if size is None and len(self.buffer) >= _worker.HEADER.size:
                (size,) = _worker.HEADER.unpack_from(self.buffer)
                if size > _worker.MAX_FRAME:
                    raise ValueError(f"the worker sent a frame of {size} bytes")
            if size is not None and len(self.buffer) >= _worker.HEADER.size + size:
                end = _worker.HEADER.size + size
                body = bytes(self.buffer[_worker.HEADER.size : end])
                del self.buffer[:end]
                msg = json.loads(body.decode("utf-8", "surrogatepass"))
                if not isinstance(msg, dict):
                    raise ValueError(f"the worker sent {type(msg).__name__}, not an object")
                return msg
            self._wait(selectors.EVENT_READ, self.rfd, deadline)
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise _ChannelClosed()
            self.buffer += chunk

    def _wait(self, event: int, fd: int, deadline: float) -> None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Deadline()
            if event == selectors.EVENT_READ:
                ready = self.selector.select(min(left, _MAX_WAIT_S))
            else:
                with selectors.DefaultSelector() as sel:
                    sel.register(fd, event)
                    ready = sel.select(min(left, _MAX_WAIT_S))
            if ready:
                return

    # -- ending ----------------------------------------------------------------------------------
    def exit_status(self, wait: float = 2.0) -> Optional[int]:
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, graceful: bool = False) -> None:
        if graceful and self.proc.poll() is None:
            try:
                self.send({"op": "exit"}, time.monotonic() + 0.5)
                self.proc.wait(timeout=0.5)
            except (_ChannelClosed, _Deadline, subprocess.TimeoutExpired, OSError):
                pass
        self.selector.close()
        self._finalizer()


def _cleanup(
    proc: Optional[subprocess.Popen[Any]],
    lease: Optional[UidLease],
    workdir: Optional[str],
    import_root: Optional[str] = None,
    cgroup: Optional[MemoryCgroup] = None,
) -> None:
    """Kill the worker's process group (and, with a uid lease, every process of that uid); remove its
    directories and its memory cgroup."""
    if proc is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
            pass
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
    if lease is not None:
        lease.release()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    if import_root is not None:
        try:
            os.rmdir(import_root)
        except OSError:
            pass
    if cgroup is not None:
        cgroup.remove()


def _describe_exit(code: Optional[int], max_memory_mb: Optional[int]) -> str:
    if code is None:
        return "the interpreter process stopped responding"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {
            "SIGKILL": f" (often the memory limit{f' of {max_memory_mb} MB' if max_memory_mb else ''} "
            f"or the system running out of memory)",
            "SIGXCPU": " (its CPU time limit)",
            "SIGSEGV": " (a crash in native code)",
        }.get(name, "")
        return f"the interpreter process was killed by {name}{hint}"
    return f"the interpreter process exited with status {code}"


class SubprocessExecutor(Executor):
    """Runs code in a persistent worker process (started on first use, restarted after a kill or crash).

    ``max_memory_mb`` limits each worker process's address space (0: no limit); as root, the worker and all
    its children together are also capped at ``max_total_memory_mb`` (default: ``max_memory_mb``) by a
    memory cgroup where one is writable. ``max_processes`` bounds the processes of its uid (root only);
    ``max_file_mb`` the size of any file it writes; ``allow_network`` lifts the (best effort) socket block;
    ``drop_privileges`` (default: when root) gives every worker a uid of its own. ``max_output_bytes``
    caps captured output inside the worker."""

    #: The name ``AgentInterpreter`` and ``proxy: backend:`` use for this backend.
    backend_name = "subprocess"

    def __init__(
        self,
        *,
        max_memory_mb: int = 1024,
        max_processes: int = 64,
        max_file_mb: int = 256,
        max_output_bytes: int = 1 << 20,
        allow_network: bool = False,
        drop_privileges: Optional[bool] = None,
        python: Optional[str] = None,
        max_total_memory_mb: Optional[int] = None,
    ):
        limits = {
            "max_memory_mb": max_memory_mb,
            "max_processes": max_processes,
            "max_file_mb": max_file_mb,
            "max_output_bytes": max_output_bytes,
            "max_total_memory_mb": max_total_memory_mb,
        }
        for name, value in limits.items():  # checked here: the worker would fail on them at its first run
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be an integer >= 0 (0: no limit), got {value!r}")
        if drop_privileges and not can_drop_privileges():
            raise SandboxError("drop_privileges=True needs the parent to run as root on Linux")
        self.max_memory_mb = max_memory_mb
        self.max_total_memory_mb = max_memory_mb if max_total_memory_mb is None else max_total_memory_mb
        self.max_processes = max_processes
        self.max_file_mb = max_file_mb
        self.max_output_bytes = max_output_bytes
        self.allow_network = allow_network
        self.drop_privileges = can_drop_privileges() if drop_privileges is None else drop_privileges
        self.python = python or sys.executable
        self._proc: Optional[_Process] = None
        self._lock = threading.Lock()
        self._owner: Optional[int] = None  # the thread inside run()
        self._closing = False  # close() stopped the run in progress

    def worker_command(self) -> List[str]:
        """The command that starts a worker (the JSON config is appended). Override to run it elsewhere,
        e.g. ``["docker", "run", "-i", "--rm", image, "python", "-I", "/worker.py"]``."""
        return [self.python, "-I", os.path.abspath(_worker.__file__)]

    def wrap_command(self, command: List[str], workdir: str, uid: Optional[int]) -> List[str]:
        """The command actually started, given the worker command (config included), its directory and its
        uid (``None``: this process's); a container backend wraps it here. The default runs it as is."""
        return command

    def spawn(self, command: List[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        """Start the command (``subprocess.Popen``); a backend may start it from elsewhere (another thread)."""
        return subprocess.Popen(command, **popen_kwargs)

    def worker_exit_code(self, code: Optional[int]) -> Optional[int]:
        """The worker's exit status from that of the started command (negative: killed by that signal)."""
        return code

    def popen_options(self, lease: Optional[UidLease]) -> Dict[str, Any]:
        """Extra ``subprocess.Popen`` arguments for the command of ``wrap_command``."""
        return {}

    def worker_config(self) -> Dict[str, Any]:
        return {
            "max_memory_mb": self.max_memory_mb,
            "max_processes": self.max_processes,
            "max_file_mb": self.max_file_mb,
            "max_output_bytes": self.max_output_bytes,
            "allow_network": self.allow_network,
        }

    @property
    def pid(self) -> Optional[int]:
        """The live worker's pid, if one is running."""
        return self._proc.pid if self._proc is not None else None

    @property
    def info(self) -> Dict[str, Any]:
        """What the live worker reported at start (``pid``, ``uid``, ``network``: namespace | patched | open,
        ``imports``: reachable | mounted | bound, ``unenforced_limits``: limits this system refused) and
        ``memory_cap``: ``cgroup v1``/``cgroup v2`` (all its processes together) or ``per process``."""
        if self._proc is None:
            return {}
        cgroup = self._proc.cgroup
        return {**self._proc.info, "memory_cap": f"cgroup v{cgroup.version}" if cgroup else "per process"}

    def start(self) -> None:
        """Start the worker now rather than on the first run."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> _Process:
        if self._proc is None:
            proc = _Process(self)
            proc.wait_ready()
            self._proc = proc
        return self._proc

    def _discard(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.stop()

    def run(self, code: str, *, timeout: float, api: Optional[ApiHandler]) -> ExecResult:
        self._not_from_call_api("run")
        with self._lock:
            self._owner = threading.get_ident()
            try:
                return self._run(code, timeout, api)
            finally:
                self._owner = None

    def _not_from_call_api(self, what: str) -> None:
        """The ``CALL_API`` handler runs while ``run`` holds the lock: calling back in would deadlock."""
        if self._owner == threading.get_ident():
            raise SandboxError(f"{what}() of a sandbox cannot be called from the CALL_API handler of its own run")

    def _run(self, code: str, timeout: float, api: Optional[ApiHandler]) -> ExecResult:
        proc = self._ensure()
        deadline = time.monotonic() + timeout
        try:
            proc.send({"op": "run", "code": code, "timeout": timeout}, deadline)
            while True:
                msg = proc.recv(deadline)
                op = msg.get("op")
                if op == "api":
                    proc.send({"op": "api_result", **call_api(api, msg.get("path"), msg.get("params"))}, deadline)
                elif op == "done":
                    output, error = msg.get("output") or "", msg.get("error") or None
                    if not isinstance(output, str) or not isinstance(error, (str, type(None))):
                        raise ValueError("a 'done' message whose output or error is not text")
                    killed = self._new_oom_kills(proc)
                    if killed:
                        output += (
                            f"{'' if not output or output.endswith(chr(10)) else chr(10)}[sandbox] the memory "
                            f"limit of {self.max_total_memory_mb} MB for this interpreter and its child "
                            f"processes together was reached: the system killed {killed} process(es)\n"
                        )
                    return ExecResult(
                        output=output,
                        error=error,
                        overflow=bool(msg.get("overflow")),
                        status="error" if error else "ok",
                    )
                else:
                    raise ValueError(f"unexpected message {op!r}")
        except _Deadline:
            self._discard()
            return ExecResult(status="timeout")
        except _ChannelClosed:
            status = proc.exit_status()
            killed = self._new_oom_kills(proc)
            self._discard()
            if self._closing:
                return ExecResult(status="crashed", detail="the interpreter was closed while this code ran")
            if killed:
                return ExecResult(
                    status="crashed",
                    detail=(
                        f"the interpreter process was killed: the memory limit of {self.max_total_memory_mb} MB "
                        f"for the interpreter and its child processes together was reached"
                    ),
                )
            return ExecResult(
                status="crashed", detail=_describe_exit(self.worker_exit_code(status), self.max_memory_mb or None)
            )
        except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: JSON nested too deep
            self._discard()
            return ExecResult(status="crashed", detail=f"the interpreter process broke the protocol ({e})")
        except BaseException:  # e.g. KeyboardInterrupt here: the worker's state is unknown
            self._discard()
            raise

    @staticmethod
    def _new_oom_kills(proc: _Process) -> int:
        """Processes the kernel killed in the worker's memory cgroup since the last look."""
        if proc.cgroup is None:
            return 0
        total = proc.cgroup.oom_kills()
        new, proc.oom_kills = total - proc.oom_kills, total
        return new

    def reset(self) -> None:
        self._not_from_call_api("reset")
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                proc.stop(graceful=True)

    def close(self) -> None:
        """Stop the worker; a run in progress in another thread is stopped (its worker killed), not waited for."""
        self._not_from_call_api("close")
        proc = self._proc
        if self._owner is not None and proc is not None and proc.proc.poll() is None:  # not reaped: its pid is its own
            self._closing = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its run() ends at once; the rest is cleaned up below
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.reset()
        finally:
            self._closing = False


__all__ = ["SubprocessExecutor", "START_TIMEOUT_S"]
