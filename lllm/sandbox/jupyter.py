"""Jupyter mode (§8.2): an agent writes ``<python_cell>``/``<markdown_cell>`` blocks and the tactic runs
them in a real IPython kernel, keeping a notebook (``.ipynb``) of every cell and its outputs.

``CALL_API(path, params)`` inside the kernel sends the request back to this process over a localhost
socket (one JSON line each way, with a per-session token), where the ``api`` callable (normally the
agent's ``ProxyManager``) answers it: provider keys and proxies never enter the kernel, whose
environment is the parent's minus secret-looking variables. Runaway cells are interrupted, and the
kernel is restarted if that does not stop them. The kernel runs as the parent's user: it is a
separate process, not a security boundary (the ``subprocess`` sandbox backend is one).

Needs the ``jupyter`` extra (``jupyter_client``, ``ipykernel``, ``nbformat``); imported lazily."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import queue
import re
import secrets
import shutil
import socketserver
import tempfile
import threading
import time
import warnings
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from lllm.errors import LLLMError
from lllm.sandbox import scratch
from lllm.sandbox.executor import ApiHandler, call_api
from lllm.sandbox.interpreter import clip_output
from lllm.sandbox.worker import shorten_lines
from lllm.secrets import all_secrets, hide

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL", re.IGNORECASE)
_CELL = re.compile(r"<(python_cell|markdown_cell)>(.*?)</\1>", re.DOTALL)
_MAX_REQUEST = 16 << 20  # bytes of one CALL_API request line
_MAX_RICH_OUTPUT = 16 << 20  # characters of results and displays kept per cell (plots fit; a display loop stops)
_MAX_ERROR_LINE = 5000  # longer lines of an error (a huge message) are cut in their middle
_OUTPUT_KINDS = ("stream", "execute_result", "display_data", "error")
_FRAMEWORK_FRAME = "_lllm_make_call_api"  # in the traceback entry of CALL_API's frame, which is left out

# Run silently in the kernel by init_session(): defines CALL_API and leaves nothing else behind.
_KERNEL_INIT = '''
def _lllm_make_call_api(port, token):
    import builtins, json, socket

    def CALL_API(path, params=None):
        """Call an API endpoint through the host: CALL_API("<proxy>/<endpoint>", {...}) -> data."""
        line = json.dumps({"token": token, "path": path, "params": dict(params or {})}, default=str) + "\\n"
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(line.encode("utf-8"))
            raw = conn.makefile("rb").readline()
        if not raw:
            raise RuntimeError("CALL_API: the host closed the connection without a reply")
        reply = json.loads(raw)
        if reply["ok"]:
            return reply["value"]
        exc = getattr(builtins, reply["type"], None)
        if not (isinstance(exc, type) and issubclass(exc, Exception)):
            exc = RuntimeError
        raise exc(reply["message"])

    return CALL_API


CALL_API = _lllm_make_call_api(%(port)d, %(token)r)
del _lllm_make_call_api
'''


class JupyterError(LLLMError, RuntimeError):
    """A kernel that could not be started or talked to (not an error of the cell's code)."""


#: One ``CALL_API`` reply (the same as the subprocess backend's): ``{"ok": True, "value": <JSON-safe>}`` or
#: ``{"ok": False, "type": <exception name>, "message": ...}``.
answer_api = call_api


class _ApiHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: Any = self.server
        try:
            request = json.loads(self.rfile.readline(_MAX_REQUEST))
            ok = isinstance(request, dict) and hmac.compare_digest(str(request.get("token", "")), server.token)
        except ValueError:
            ok = False
        if ok:
            reply = answer_api(server.api, request.get("path"), request.get("params"))
        else:
            reply = {"ok": False, "type": "PermissionError", "message": "CALL_API: bad request"}
        self.wfile.write(json.dumps(reply).encode("utf-8") + b"\n")


class _ApiServer(socketserver.ThreadingTCPServer):
    """Answers the kernel's ``CALL_API`` requests on 127.0.0.1 (a free port), in daemon threads."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: Optional[ApiHandler]):
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.api = api
        self.token = secrets.token_hex(16)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, args=(0.1,), name="lllm-jupyter-api", daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def _rich_size(content: Dict[str, Any]) -> int:
    """The characters of a result's or display's data (all its representations)."""
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in content.get("data", {}).values())


def kernel_env() -> Dict[str, str]:
    """The parent's environment without variables whose names look secret (``*KEY*``, ``*TOKEN*``, ...), whose
    value holds a known credential (``lllm.secrets``) or a URL with ``user:password@`` (``DATABASE_URL``)."""
    known = all_secrets()
    return {k: v for k, v in os.environ.items() if not _SECRET_ENV.search(k) and hide(v, known) == v}


def extract_cells(text: str) -> List[Tuple[str, str]]:
    """``[("python" | "markdown", source), ...]``: the ``<python_cell>``/``<markdown_cell>`` blocks of an
    agent's reply, in order."""
    return [(kind.partition("_")[0], body.strip("\n")) for kind, body in _CELL.findall(text or "")]


class JupyterSession:
    """A live IPython kernel with ``CALL_API``, recording every cell into ``<dir>/<name>.ipynb``.

    ``api``: answers ``CALL_API(path, params)`` (a ``ProxyManager`` or any ``callable(path, params)``).
    ``max_output_chars``: ``run_cell`` results are cut there, plus ``truncation_indicator`` (0 = no limit);
    a cell's stream output is kept up to twice that, its results and displays up to 16 M characters.
    ``interrupt_grace``: seconds a timed-out cell gets to stop after the interrupt before the restart.
    Use as a context manager, or call ``shutdown()``; the kernel also exits when this process does."""

    def __init__(
        self,
        name: str,
        dir: "str | os.PathLike[str]",
        metadata: Optional[Dict[str, Any]] = None,
        *,
        api: Optional[ApiHandler] = None,
        kernel_name: str = "python3",
        max_output_chars: int = 5000,
        truncation_indicator: str = "... (truncated)",
        startup_timeout: float = 60.0,
        interrupt_grace: float = 5.0,
    ):
        if not isinstance(name, str) or not name:
            raise ValueError(f"JupyterSession: name must be a non-empty string, got {name!r}")
        if api is not None and not callable(api):
            raise TypeError(
                f"JupyterSession '{name}': api must be a callable(path, params) or None, got {type(api).__name__}"
            )
        if isinstance(max_output_chars, bool) or not isinstance(max_output_chars, int) or max_output_chars < 0:
            raise ValueError(f"max_output_chars must be an integer >= 0 (0 = no limit), got {max_output_chars!r}")
        self.name = name
        self.dir = Path(dir).resolve()
        self.metadata = dict(metadata or {})
        self.api = api
        self.kernel_name = kernel_name
        self.max_output_chars = max_output_chars
        self.truncation_indicator = truncation_indicator
        self.startup_timeout = startup_timeout
        self.interrupt_grace = interrupt_grace
        self.notebook_path = self.dir / (re.sub(r"[^\w.-]+", "_", name) + ".ipynb")
        self.last_cell_failed = False
        self._km: Any = None
        self._restarted_after_death = False
        self._kc: Any = None
        self._api_server: Optional[_ApiServer] = None
        self._ipc_dir: Optional[tempfile.TemporaryDirectory[str]] = None
        self._lock = threading.RLock()
        try:
            import nbformat  # lazy: the jupyter extra
        except ImportError as e:
            raise ImportError(f"JupyterSession needs the 'jupyter' extra (pip install 'lllm[jupyter]'): {e}") from e
        self._nbformat: Any = nbformat  # unannotated, like the jupyter_client objects above
        self._nb = self._nbformat.v4.new_notebook(
            metadata={
                "kernelspec": {"name": kernel_name, "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"},
                "lllm": {"session": name, **self.metadata},
            }
        )

    def __repr__(self) -> str:
        return f"JupyterSession({self.name!r}, notebook={str(self.notebook_path)!r}, running={self.running})"

    def __enter__(self) -> "JupyterSession":
        self.init_session()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    @property
    def running(self) -> bool:
        return self._km is not None and self._km.is_alive()

    # -- lifecycle -------------------------------------------------------------------------------

    def init_session(self) -> None:
        """Start the kernel (in ``dir``) and define ``CALL_API`` in it; a no-op when already running."""
        with self._lock:
            if self.running:
                return
            if self._km is not None:  # the kernel died between cells: drop its client before a new start
                self._stop_kernel()
                self._restarted_after_death = True
            self.dir.mkdir(parents=True, exist_ok=True)
            if self._api_server is None:
                self._api_server = _ApiServer(self.api)
            try:
                self._start_kernel()
                self._define_call_api()
            except BaseException:  # nothing of a failed start keeps running (no __exit__ follows __enter__)
                self.shutdown()
                raise
            self._save()

    def _start_kernel(self) -> None:
        try:
            from jupyter_client.manager import KernelManager  # lazy: the jupyter extra
        except ImportError as e:
            raise JupyterError(f"JupyterSession needs the 'jupyter' extra (pip install 'lllm[jupyter]'): {e}") from e
        kw: Dict[str, Any] = {"kernel_name": self.kernel_name}
        if os.name == "posix":  # unix sockets: no TCP ports, only this user can connect
            self._ipc_dir = self._ipc_dir or tempfile.TemporaryDirectory(prefix=scratch.prefix("kernel"))
            kw.update(transport="ipc", ip=os.path.join(self._ipc_dir.name, "k"))
        km = KernelManager(**kw)
        try:
            km.start_kernel(cwd=str(self.dir), env=kernel_env())
            kc = km.blocking_client()
            kc.start_channels()
            kc.wait_for_ready(timeout=self.startup_timeout)
        except Exception as e:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
            raise JupyterError(
                f"JupyterSession '{self.name}': kernel '{self.kernel_name}' did not start: {type(e).__name__}: {e}"
            ) from e
        self._km, self._kc = km, kc

    def _define_call_api(self) -> None:
        assert self._api_server is not None
        code = _KERNEL_INIT % {"port": self._api_server.port, "token": self._api_server.token}
        msg_id = self._kc.execute(code, silent=True, store_history=False)
        _, done = self._collect(msg_id, time.monotonic() + self.startup_timeout)
        if not done:
            raise JupyterError(f"JupyterSession '{self.name}': the kernel did not run its setup code")
        self._shell_reply(msg_id)

    def _restart(self) -> None:
        """A fresh kernel (all state lost) with ``CALL_API`` defined again."""
        self._kc.stop_channels()
        self._km.restart_kernel(now=True)
        self._kc = self._km.blocking_client()
        self._kc.start_channels()
        self._kc.wait_for_ready(timeout=self.startup_timeout)
        self._define_call_api()

    def shutdown(self) -> None:
        """Stop the kernel and the ``CALL_API`` server and write the notebook; idempotent."""
        with self._lock:
            self._stop_kernel()
            if self._api_server is not None:
                self._api_server.close()
                self._api_server = None
            if self._ipc_dir is not None:
                self._ipc_dir.cleanup()
                self._ipc_dir = None
            if self.dir.is_dir():
                self._save()

    def _stop_kernel(self) -> None:
        if self._kc is not None:
            self._kc.stop_channels()
            self._kc = None
        if self._km is not None:
            if self._km.has_kernel:
                self._km.shutdown_kernel(now=True)
            self._km = None

    # -- cells -----------------------------------------------------------------------------------

    def add_markdown_cell(self, text: str) -> None:
        """Append a markdown cell to the notebook (nothing runs)."""
        with self._lock:
            self._nb.cells.append(self._nbformat.v4.new_markdown_cell(text))
            self.dir.mkdir(parents=True, exist_ok=True)
            self._save()

    def run_cell(self, code: str, timeout: float = 60.0) -> str:
        """Run ``code`` as the next notebook cell; returns what it showed as text: streams, results,
        displays (text form), and the traceback if it raised. A cell still running after ``timeout``
        seconds is interrupted, and the kernel restarted if that does not stop it; the result says so."""
        with self._lock:
            self.init_session()
            restarted, self._restarted_after_death = self._restarted_after_death, False
            msg_id = self._kc.execute(code, store_history=True, allow_stdin=False)
            outputs, done = self._collect(msg_id, time.monotonic() + timeout)
            prefix = (
                (
                    "[the kernel had died since the last cell; a new one was started and earlier variables "
                    "and imports are gone]\n"
                )
                if restarted
                else ""
            )
            note = ""
            if not done:
                note = self._stop_runaway(msg_id, timeout, outputs)
            failed = bool(note) or any(o.get("output_type") == "error" for o in outputs)
            reply = self._shell_reply(msg_id) if done else None
            count = reply.get("execution_count") if reply else None
            self._nb.cells.append(self._nbformat.v4.new_code_cell(code, outputs=outputs, execution_count=count))
            self.last_cell_failed = failed
            self._save()
            text = self._text(outputs)
            if note and text and not text.endswith("\n"):
                text += "\n"
            return prefix + text + note

    async def arun_cell(self, code: str, timeout: float = 60.0) -> str:
        """``run_cell`` in a worker thread, so an async tactic's event loop keeps running."""
        return await asyncio.to_thread(self.run_cell, code, timeout)

    def run_agent_cells(self, text: str, timeout: float = 60.0) -> str:
        """Run the ``<markdown_cell>``/``<python_cell>`` blocks of an agent's reply in order; returns the
        python cells' results (numbered when there are several) for the agent's next turn."""
        results = []
        for kind, source in extract_cells(text):
            if kind == "markdown":
                self.add_markdown_cell(source)
            else:
                results.append(self.run_cell(source, timeout))
        if len(results) == 1:
            return results[0]
        return "\n".join(f"[cell {i}]\n{r}" for i, r in enumerate(results, 1))

    # -- internals -------------------------------------------------------------------------------

    def _collect(self, msg_id: str, deadline: float) -> Tuple[List[Any], bool]:
        """The outputs of request ``msg_id`` until the kernel is idle again (done) or ``deadline`` passes."""
        outputs: List[Any] = []
        new_output = self._nbformat.v4.new_output
        size = rich = 0
        limit = self.max_output_chars * 2 if self.max_output_chars else 0
        clear_pending = False  # clear_output(wait=True): clear when the next output arrives
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return outputs, False
            try:
                msg = self._kc.get_iopub_msg(timeout=min(remaining, 0.5))
            except queue.Empty:
                if not self._km.is_alive():
                    return outputs, False
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                return outputs, True
            if kind == "clear_output" or (clear_pending and kind in _OUTPUT_KINDS):
                clear_pending = kind == "clear_output" and bool(content.get("wait"))
                if not clear_pending:  # what was cleared no longer counts against the limits
                    outputs.clear()
                    size = rich = 0
                if kind == "clear_output":
                    continue
            if kind == "stream":
                text = content.get("text", "")
                if limit:  # a flood: keep what fits (the result is cut anyway)
                    text = text[: max(0, limit - size)]
                    if not text:
                        continue
                size += len(text)
                last = outputs[-1] if outputs else None
                if last is not None and last.get("output_type") == "stream" and last.get("name") == content["name"]:
                    last["text"] += text
                else:
                    outputs.append(new_output("stream", name=content["name"], text=text))
            elif kind in ("execute_result", "display_data") and rich + _rich_size(content) > _MAX_RICH_OUTPUT:
                if rich <= _MAX_RICH_OUTPUT:  # a flood of displays: dropped from here on, said once
                    note = f"[more than {_MAX_RICH_OUTPUT >> 20} M characters of results and displays: the rest were dropped]\n"
                    outputs.append(new_output("stream", name="stderr", text=note))
                rich = _MAX_RICH_OUTPUT + 1
            elif kind == "execute_result":
                rich += _rich_size(content)
                outputs.append(
                    new_output(
                        "execute_result",
                        data=content.get("data", {}),
                        metadata=content.get("metadata", {}),
                        execution_count=content.get("execution_count"),
                    )
                )
            elif kind == "display_data":
                rich += _rich_size(content)
                outputs.append(
                    new_output("display_data", data=content.get("data", {}), metadata=content.get("metadata", {}))
                )
            elif kind == "error":
                frames = [
                    shorten_lines(t, _MAX_ERROR_LINE)
                    for t in content.get("traceback", [])
                    if _FRAMEWORK_FRAME not in t  # CALL_API's own
                ]
                evalue = shorten_lines(content.get("evalue", ""), _MAX_ERROR_LINE)
                outputs.append(new_output("error", ename=content.get("ename", ""), evalue=evalue, traceback=frames))

    def _stop_runaway(self, msg_id: str, timeout: float, outputs: List[Any]) -> str:
        """Interrupt (then, if needed, restart) a kernel whose cell overran; the note for the result."""
        if not self._km.is_alive():
            self._restart()
            return (
                "Error: the kernel died while running this cell; it was restarted: all variables and imports "
                "were lost (CALL_API is defined again)."
            )
        self._km.interrupt_kernel()
        more, stopped = self._collect(msg_id, time.monotonic() + self.interrupt_grace)
        outputs.extend(more)  # e.g. the KeyboardInterrupt traceback, showing where it was stopped
        if stopped:
            self._shell_reply(msg_id)
            return f"Error: the cell exceeded its {timeout:g}s time limit and was interrupted (variables are kept)."
        self._restart()
        return (
            f"Error: the cell exceeded its {timeout:g}s time limit and did not stop when interrupted; the "
            f"kernel was restarted: all variables and imports were lost (CALL_API is defined again)."
        )

    def _shell_reply(self, msg_id: str, timeout: float = 5.0) -> Optional[Dict[str, Any]]:
        """The content of the execute reply to ``msg_id``; replies to earlier requests are discarded."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self._kc.get_shell_msg(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if reply["parent_header"].get("msg_id") == msg_id:
                content: Dict[str, Any] = reply["content"]
                return content

    def _text(self, outputs: List[Any]) -> str:
        """The text the model reads: outputs in order, then the traceback; cut at ``max_output_chars``
        with the traceback's end kept (see ``clip_output``)."""
        parts, error = [], ""
        for o in outputs:
            kind = o.get("output_type")
            if kind == "stream":
                parts.append(o["text"])
            elif kind in ("execute_result", "display_data"):
                data = o.get("data", {})
                text = data.get("text/plain")
                parts.append((text if text is not None else " ".join(f"[{mime} output]" for mime in data)) + "\n")
            elif kind == "error":
                error += _ANSI.sub("", "\n".join(o.get("traceback") or [f"{o['ename']}: {o['evalue']}"])) + "\n"
        text = clip_output("".join(parts), error, False, self.max_output_chars, self.truncation_indicator)
        return hide(text, all_secrets())  # known credentials the cell printed (lllm.secrets)

    def _save(self) -> None:
        self._nbformat.write(self._nb, str(self.notebook_path))


class JupyterCellType(str, Enum):
    """A notebook cell's kind (kept from lllm-core 0.1.x)."""

    MARKDOWN = "markdown"
    CODE = "code"


class ProgrammingLanguage(str, Enum):
    """A session's language (kept from lllm-core 0.1.x): Python only."""

    PYTHON = "python"


def _session_name(name: str) -> str:
    """``name`` if it can name a directory under ``sessions/`` (one path component), else ``ValueError``."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in ("/", os.sep, "\0")):
        raise ValueError(f"invalid Jupyter session name {name!r}: use one folder name, without '/' or '..'")
    return name


class JupyterSandbox:
    """lllm-core 0.1.x's manager of named notebook sessions, kept for compatibility (deprecated): each
    session is a ``JupyterSession`` in ``<path>/sessions/<name>``; create ``JupyterSession`` directly."""

    def __init__(
        self,
        config: Optional[Dict[str, Any]] = None,
        path: "str | os.PathLike[str] | None" = None,
        verbose: bool = False,
        *,
        api: Optional[ApiHandler] = None,
    ):
        warnings.warn(
            "JupyterSandbox is deprecated: create lllm.sandbox.jupyter.JupyterSession(name, dir, "
            "metadata, api=...) directly",
            DeprecationWarning,
            stacklevel=2,
        )
        self.config = dict(config or {})
        self.project_root = self.config.get("project_root")
        self.api = api
        name = re.sub(r"[^\w.-]+", "_", str(self.config.get("name") or "default"))
        self.sandbox_dir = Path(path) if path is not None else Path(tempfile.gettempdir()) / "lllm-sandbox" / name
        self.session_dir = self.sandbox_dir / "sessions"
        self.active_sessions: Dict[str, JupyterSession] = {}

    def new_session(
        self,
        name: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        path: "str | os.PathLike[str] | None" = None,
    ) -> JupyterSession:
        """Start a session (its kernel runs at once); a name already in use raises ``ValueError``."""
        name = _session_name(name) if name else time.strftime("%Y-%m-%d_%H-%M-%S") + "_" + secrets.token_hex(3)
        session_path = Path(path) if path is not None else self.session_dir / name
        if name in self.active_sessions or (session_path / f"{name}.ipynb").exists():
            raise ValueError(f"Jupyter session '{name}' already exists in {session_path}")
        session = JupyterSession(name, session_path, metadata, api=self.api)
        session.init_session()
        self.active_sessions[name] = session
        return session

    def get_session(
        self,
        session_name: str,
        create: bool = True,
        metadata: Optional[Dict[str, Any]] = None,
        path: "str | os.PathLike[str] | None" = None,
    ) -> Optional[JupyterSession]:
        """The active session of that name, else a new one (``create``), else ``None``."""
        if session_name in self.active_sessions:
            return self.active_sessions[session_name]
        return self.new_session(session_name, metadata, path) if create else None

    def shutdown_session_resources(self, session_name: str) -> None:
        """Stop a session's kernel (its notebook stays on disk)."""
        if session_name in self.active_sessions:
            self.active_sessions[session_name].shutdown()

    def delete_session_completely(self, session_name: str) -> None:
        """Stop a session and remove its directory."""
        _session_name(session_name)  # a path of its own ("", "..") would remove other sessions or other files
        session = self.active_sessions.pop(session_name, None)
        if session is not None:
            session.shutdown()
        target = session.dir if session is not None else self.session_dir / session_name
        shutil.rmtree(target, ignore_errors=True)

    def shutdown_all_sessions_resources(self) -> None:
        """Stop every active session's kernel."""
        for name in list(self.active_sessions):
            self.shutdown_session_resources(name)


__all__ = [
    "JupyterSession",
    "JupyterError",
    "extract_cells",
    "answer_api",
    "kernel_env",
    "JupyterSandbox",
    "JupyterCellType",
    "ProgrammingLanguage",
]
