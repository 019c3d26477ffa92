"""Runs the hostile sandbox cases against one backend, as whatever user starts it, and prints JSON.

    python tests/sandbox/hostile_runner.py BACKEND              -> {"case": {"outcome", "evidence"}, ...}
    python tests/sandbox/hostile_runner.py BACKEND --kill-parent -> tries to kill this very process

``test_sandbox_hostile.py`` starts it as root and, through ``setpriv``, as an unprivileged user. Each case
reports ``"stopped"`` (the sandboxed code could not do it) or ``"not stopped"``, with what was seen. The
code under test is real hostile code run through ``AgentInterpreter``; nothing here is simulated."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any, Callable, Dict

os.environ.setdefault("LLLM_AUTO_INIT", "0")

from lllm.sandbox import AgentInterpreter, BwrapExecutor, InProcessExecutor, SubprocessExecutor  # noqa: E402

SECRET = os.environ.get("LLLM_HOSTILE_SECRET") or "sk-hostile-%08x" % random.getrandbits(32)
MARK = "%06d" % random.randrange(10**6)  # makes this run's leftover processes and files recognisable
TIMEOUT = 20.0


def interpreter(backend: str, **kw: Any) -> AgentInterpreter:
    kw.setdefault("max_memory_mb", 512)
    kw.setdefault("max_processes", 16)
    if backend == "inprocess":
        return AgentInterpreter(None, timeout=TIMEOUT, max_output_chars=0, backend=InProcessExecutor())
    cls = BwrapExecutor if backend == "bwrap" else SubprocessExecutor
    return AgentInterpreter(None, timeout=TIMEOUT, max_output_chars=0, backend=cls(**kw))


def run(backend: str, code: str, **kw: Any) -> str:
    it = interpreter(backend, **kw)
    try:
        return it.run(textwrap.dedent(code))
    finally:
        it.close()


def finished(out: str, *markers: str) -> str:
    """``out`` if the hostile code ran to its end (printed one of ``markers``); a probe that broke proves nothing."""
    if not any(m in out for m in markers):
        raise RuntimeError(f"the hostile code did not finish: {out[-800:]}")
    return out


def outcome(stopped: bool, evidence: str) -> Dict[str, str]:
    return {"outcome": "stopped" if stopped else "not stopped", "evidence": evidence.strip()[-600:]}


# -- the cases -------------------------------------------------------------------------------------


def case_parent_environ(backend: str, work: str) -> Dict[str, str]:
    """Read the parent's environment (a provider key) through /proc/<pid>/environ or os.environ."""
    out = run(
        backend,
        f"""
        import os
        seen = []
        for pid in {{{os.getpid()}, os.getppid()}} | set(p for p in os.listdir('/proc') if p.isdigit()):
            try:
                seen.append(open(f'/proc/{{pid}}/environ', 'rb').read().decode('utf-8', 'replace'))
            except OSError:
                pass
        print('found' if any({SECRET!r} in s for s in seen) or {SECRET!r} in str(os.environ) else 'none')
    """,
    )
    finished(out, "found", "none")
    return outcome(SECRET not in out and "found" not in out, out)


def case_socket(backend: str, work: str) -> Dict[str, str]:
    """Open a connection to a server of the parent's on 127.0.0.1 (through ``_socket``, below any patch)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(1.0)
    port = server.getsockname()[1]
    try:
        out = run(
            backend,
            f"""
            import _socket
            s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
            s.settimeout(3)
            try:
                s.connect(('127.0.0.1', {port}))
                print('connected')
            except OSError as e:
                print('refused', type(e).__name__, e)
        """,
        )
        finished(out, "connected", "refused")
        try:
            conn, _ = server.accept()
            conn.close()
            accepted = True
        except TimeoutError:
            accepted = False
    finally:
        server.close()
    return outcome(not accepted and "connected" not in out, out)


def case_fork_bound(backend: str, work: str) -> Dict[str, str]:
    """Fork 64 sleeping children (the limit is 16 processes): is forking bounded?"""
    out = run(
        backend,
        """
        import os, signal, time
        kids = []
        try:
            for _ in range(64):
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                kids.append(pid)
            print('forked all', len(kids))
        except OSError as e:
            print('refused after', len(kids), type(e).__name__)
        for pid in kids:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    """,
        max_processes=16,
    )
    finished(out, "forked all", "refused after")
    return outcome("refused after" in out and "forked all" not in out, out)


def _leftovers() -> list:
    """Live processes of this run's sleepers (found by their unique argument), from the host's /proc."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"4242.{MARK}".encode() in cmd and state != "Z":
            found.append(int(pid))
    return found


def case_sleepers(backend: str, work: str) -> Dict[str, str]:
    """Leave processes behind that escape the process group (setsid, double fork): alive after close()?"""
    out = run(
        backend,
        f"""
        import os, subprocess
        subprocess.Popen(['sleep', '4242.{MARK}'], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp('sleep', ['sleep', '4242.{MARK}'])
            os._exit(0)
        os.wait()
        print('planted')
    """,
    )
    finished(out, "planted")
    time.sleep(0.3)
    left = _leftovers()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return outcome(not left, f"{out}\nalive after close: {left}")


def case_kill_parent(backend: str, work: str) -> Dict[str, str]:
    """Kill the process that runs the interpreter (a separate one here: it may die)."""
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), backend, "--kill-parent"],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    alive = done.returncode == 0 and done.stdout.rstrip().endswith("PARENT ALIVE")
    return outcome(alive, f"exit {done.returncode}: {done.stdout}{done.stderr}")


def kill_parent(backend: str) -> None:
    print(
        run(
            backend,
            f"""
        import os, signal
        for attempt in (lambda: os.kill({os.getpid()}, signal.SIGKILL),
                        lambda: os.killpg(os.getpgid({os.getpid()}), signal.SIGKILL),
                        lambda: os.killpg({os.getpid()}, signal.SIGKILL)):
            try:
                attempt()
            except OSError as e:
                print(type(e).__name__)
    """,
        ),
        flush=True,
    )
    print("PARENT ALIVE", flush=True)


def case_private_file(backend: str, work: str) -> Dict[str, str]:
    """Read files inside a 0700 directory of the parent's user (world-readable and 0600 ones)."""
    private = os.path.join(work, "private")
    os.makedirs(os.path.join(private, "sub"))
    for name, mode in (("open.txt", 0o644), ("secret.txt", 0o600), ("sub/deep.txt", 0o644)):
        path = os.path.join(private, name)
        with open(path, "w") as f:
            f.write(f"private-{MARK}")
        os.chmod(path, mode)
    os.chmod(private, 0o700)
    out = run(
        backend,
        f"""
        for name in ('open.txt', 'secret.txt', 'sub/deep.txt'):
            try:
                print(open({private!r} + '/' + name).read())
            except OSError as e:
                print(type(e).__name__)
        print('done')
    """,
    )
    finished(out, "done")
    return outcome(f"private-{MARK}" not in out, out)


def case_fd_walk(backend: str, work: str) -> Dict[str, str]:
    """Issue 8.2: a project in a 0700 directory, its venv the interpreter, a ``.env`` beside the venv. The code
    walks ``..`` from every open descriptor and from every import folder, and tries the path itself."""
    project = os.path.join(work, "home", "project")
    os.makedirs(project)
    env_file = os.path.join(project, ".env")
    with open(env_file, "w") as f:
        f.write(f"API_KEY=env-{MARK}\n")
    os.chmod(env_file, 0o644)
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", os.path.join(project, ".venv")], check=True, capture_output=True
    )
    os.chmod(os.path.join(work, "home"), 0o700)
    kw = {} if backend == "inprocess" else {"python": os.path.join(project, ".venv", "bin", "python")}
    out = run(
        backend,
        f"""
        import os, sys
        found, dirs = set(), []
        starts = [f'/proc/self/fd/{{fd}}' for fd in os.listdir('/proc/self/fd')]
        starts += [p for p in sys.path if p] + ['/proc/self/cwd', '/proc/self/root', '/proc/self/exe/..']
        starts += [f'/proc/{{pid}}/{{what}}' for pid in (1, os.getppid(), {os.getpid()}) for what in ('cwd', 'root')]
        for start in starts:
            if os.path.isdir(start) and start.count('/') == 4 and start.startswith('/proc/self/fd/'):
                try:
                    dirs.append(os.readlink(start))
                except OSError:
                    pass
            for up in range(0, 10):
                base = start + '/..' * up
                for name in ('.env', 'project/.env', 'home/project/.env'):
                    try:
                        found.add(open(base + '/' + name).read().strip())
                    except OSError:
                        pass
        try:
            found.add(open({env_file!r}).read().strip())
        except OSError:
            pass
        print('directory descriptors:', dirs)
        print('found:', sorted(found))
    """,
        **kw,
    )
    finished(out, "found:")
    return outcome(f"env-{MARK}" not in out, out)


def case_write_outside(backend: str, work: str) -> Dict[str, str]:
    """Write outside the work dir: a directory of the parent's user, /tmp, /var/tmp, /dev/shm."""
    shared = os.path.join(work, "shared")
    os.makedirs(shared)
    os.chmod(shared, 0o755)
    targets = [
        os.path.join(shared, f"planted-{MARK}"),
        f"/tmp/lllm-planted-{MARK}",
        f"/var/tmp/lllm-planted-{MARK}",
        f"/dev/shm/lllm-planted-{MARK}",
    ]
    out = run(
        backend,
        f"""
        for path in {targets!r}:
            try:
                open(path, 'w').write('x')
                print('wrote', path)
            except OSError as e:
                print(type(e).__name__, path)
        print('done')
    """,
    )
    finished(out, "done")
    planted = [t for t in targets if os.path.exists(t)]
    for t in planted:
        os.unlink(t)
    return outcome(not planted, f"{out}\nplanted on the host: {planted}")


def case_memory_children(backend: str, work: str) -> Dict[str, str]:
    """Four children of 150 MB each (under the 256 MB per-process limit, 600 MB together): is the total capped?"""
    out = run(
        backend,
        """
        import os, time
        r, w = os.pipe()
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    block = b'x' * (150 << 20)
                    os.write(w, b'+')
                    time.sleep(3)
                finally:
                    os._exit(0)
            kids.append(pid)
        os.close(w)
        held = b''
        while True:
            chunk = os.read(r, 16)
            if not chunk:
                break
            held += chunk
        codes = [os.waitpid(pid, 0)[1] for pid in kids]
        print('children that held 150 MB at once:', len(held), 'exit codes:', codes)
    """,
        max_memory_mb=256,
    )
    held = [line for line in out.splitlines() if line.startswith("children that held")]
    if not held:  # the worker itself was killed: stopped, if it was the memory cap that did it
        finished(out, "memory limit")
    return outcome(not held or " 4 " not in held[0], out)


CASES: Dict[str, Callable[[str, str], Dict[str, str]]] = {
    "parent_environ": case_parent_environ,
    "socket": case_socket,
    "fork_bound": case_fork_bound,
    "sleepers": case_sleepers,
    "kill_parent": case_kill_parent,
    "private_file": case_private_file,
    "fd_walk": case_fd_walk,
    "write_outside": case_write_outside,
    "memory_children": case_memory_children,
}


def main(argv: list) -> int:
    backend = argv[1]
    if argv[2:] == ["--kill-parent"]:
        kill_parent(backend)
        return 0
    if "LLLM_HOSTILE_SECRET" not in os.environ:  # the key must be in the environment this process started with
        env = {**os.environ, "LLLM_HOSTILE_SECRET": SECRET, "OPENAI_API_KEY": SECRET}
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv[1:]], env)
    results = {}
    for name, case in CASES.items():
        work = tempfile.mkdtemp(prefix="lllm-hostile-")
        try:
            results[name] = case(backend, work)
        except Exception as e:  # noqa: BLE001 - reported, and the test fails on it
            results[name] = {"outcome": "error", "evidence": f"{type(e).__name__}: {e}"}
        finally:
            for root, dirs, _ in os.walk(work):
                for d in dirs:
                    os.chmod(os.path.join(root, d), 0o755)
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
