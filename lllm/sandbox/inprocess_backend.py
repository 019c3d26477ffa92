"""The compatibility backend: code runs in a thread of the host process (the 0.1.x behaviour).

**No security boundary.** The code sees the host's memory, environment (provider keys included) and
files, and a timeout cannot stop it: the thread keeps running in the background while the namespace
is replaced. While code runs, ``sys.stdout``/``sys.stderr`` are swapped process-wide, so output of
other threads is captured too. Use it only for trusted code or where processes cannot be started."""

from __future__ import annotations

import builtins
import os
import sys
import threading
from typing import Any, Dict, List, Optional

from lllm.sandbox import worker as _worker
from lllm.sandbox.executor import ApiHandler, ExecResult, Executor, call_api

_HIDDEN = (os.path.abspath(__file__), _worker.__file__)
# The host's own streams, and the captures of the runs in progress in the order they began: runs nest (a
# CALL_API handler running another interpreter) or overlap across threads and end in any order.
_streams_lock = threading.Lock()
_host_streams: List[Any] = []
_active: List[Any] = []


def _swap_streams(out: Any) -> None:
    with _streams_lock:
        if not _active:
            _host_streams[:] = [sys.stdout, sys.stderr]
        _active.append(out)
        sys.stdout = sys.stderr = out


def _restore_streams(out: Any) -> None:
    """Streams to the latest run still in progress, else back to the host's (not to a run that has ended)."""
    with _streams_lock:
        _active.remove(out)
        if _active:
            sys.stdout = sys.stderr = _active[-1]
        else:
            sys.stdout, sys.stderr = _host_streams


class InProcessExecutor(Executor):
    """Runs code in a daemon thread of this process, in the persistent dict ``namespace``."""

    can_stop = False

    def __init__(self, *, max_output_bytes: int = 1 << 20):
        self.max_output_bytes = max_output_bytes
        self._lock = threading.Lock()
        self._api: Optional[ApiHandler] = None
        self._cells = 0
        self.namespace: Dict[str, Any] = self._fresh_namespace()

    def _fresh_namespace(self) -> Dict[str, Any]:
        return {"__name__": "__main__", "__builtins__": builtins, "CALL_API": self._call_api}

    def _call_api(self, path: str, params: Optional[Dict[str, Any]] = None, **kw: Any) -> Any:
        """Call an API endpoint, e.g. ``CALL_API("bookstore/books/search", {"q": "dune"})``."""
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"CALL_API: params must be a dict, got {type(params).__name__}")
        reply = call_api(self._api, path, {**(params or {}), **kw})
        if reply["ok"]:
            return reply["value"]
        raise _worker.api_exception(reply["type"], reply["message"])

    def run(self, code: str, *, timeout: float, api: Optional[ApiHandler]) -> ExecResult:
        with self._lock:
            self._api = api
            self._cells += 1
            chunks: List[bytes] = []
            budget = _worker.OutputBudget(self.max_output_bytes)
            out = _worker.Capture(chunks.append, budget)
            outcome: Dict[str, Optional[str]] = {}
            namespace = self.namespace

            def target() -> None:
                outcome["error"] = _worker.run_cell(code, namespace, f"<cell {self._cells}>", _HIDDEN)

            _swap_streams(out)
            try:
                thread = threading.Thread(target=target, daemon=True, name="lllm-inprocess-cell")
                thread.start()
                thread.join(min(timeout, threading.TIMEOUT_MAX))
            finally:
                _restore_streams(out)
            if thread.is_alive():  # cannot be stopped: abandon it along with its namespace
                self.namespace = self._fresh_namespace()
                return ExecResult(
                    status="timeout",
                    detail="the in-process backend cannot stop running code; it may still be running in the background",
                )
            error = outcome.get("error")
            return ExecResult(
                output=b"".join(chunks).decode("utf-8", "replace"),
                error=error,
                overflow=budget.overflow,
                status="error" if error else "ok",
            )

    def reset(self) -> None:
        with self._lock:
            self.namespace = self._fresh_namespace()

    def close(self) -> None:
        self.reset()


__all__ = ["InProcessExecutor"]
