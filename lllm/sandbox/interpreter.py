"""``AgentInterpreter``: the persistent Python interpreter behind an agent's ``run_python`` tool.

It owns an executor (a backend), answers ``CALL_API`` from a ``ProxyManager`` and turns every outcome
into the text the model reads: output cut to ``max_output_chars``, tracebacks kept, timeouts and
crashes stated plainly."""

from __future__ import annotations

from typing import Any, Dict, Optional, Union

from lllm.sandbox.bwrap_backend import BwrapExecutor, bwrap_status
from lllm.sandbox.executor import ExecResult, Executor
from lllm.sandbox.inprocess_backend import InProcessExecutor
from lllm.sandbox.subprocess_backend import SubprocessExecutor
from lllm.sandbox.worker import shorten_lines
from lllm.secrets import scrub_text

BACKENDS = ("auto", "bwrap", "subprocess", "inprocess")
DEFAULT_MEMORY_MB = 1024
NO_OUTPUT = "(no output; print() the values you want to see)"


def resolve_backend(name: str) -> str:
    """``"auto"`` becomes ``"bwrap"`` where bubblewrap is usable (probed once), else ``"subprocess"``."""
    if name == "auto":
        return "bwrap" if bwrap_status()[0] else "subprocess"
    return name


def clip_output(output: str, error: Optional[str], overflow: bool, limit: int, indicator: str) -> str:
    """``output`` then ``error``, at most ``limit`` characters plus ``indicator`` where text was cut (0 = no limit).

    When both do not fit, the traceback is kept (its last ``limit // 2`` characters at most, lines longer
    than ``limit // 4`` cut in the middle) and the output before it is cut, so the model always learns
    that, and how, its code failed."""
    error = error or ""
    if output and error and not output.endswith("\n"):
        output += "\n"
    cut = overflow
    if 0 < limit < len(output) + len(error):
        if len(error) > limit // 2:  # its end names the exception; a long line (the message) is cut in the middle
            error = shorten_lines(error, limit // 4)[-(limit // 2) :] if limit > 1 else ""
        output, cut = output[: limit - len(error)], True
    if cut:
        output += indicator + ("\n" if error else "")
    return output + error


class AgentInterpreter:
    """A persistent namespace with ``CALL_API(path, params)`` for one agent.

    ``pm`` is a ``ProxyManager`` (or any ``callable(path, params)``, or ``None`` for no APIs).
    ``backend`` is ``"auto"`` (default: ``"bwrap"`` where bubblewrap works, else ``"subprocess"``), ``"bwrap"``
    (the worker in bubblewrap namespaces, see ``BwrapExecutor``), ``"subprocess"`` (a killable worker
    process, see ``SubprocessExecutor``), ``"inprocess"`` (a host thread; no security boundary, cannot stop
    runaway code) or an ``Executor``.
    ``max_memory_mb``: the worker's address-space limit (``None``: 1024 MB; 0: none)."""

    def __init__(
        self,
        pm: Any = None,
        *,
        max_output_chars: int = 5000,
        truncation_indicator: str = "... (truncated)",
        timeout: float = 60.0,
        backend: Union[str, Executor] = "auto",
        max_memory_mb: Optional[int] = None,
    ):
        if isinstance(max_output_chars, bool) or not isinstance(max_output_chars, int) or max_output_chars < 0:
            raise ValueError(f"max_output_chars must be an integer >= 0 (0 = no limit), got {max_output_chars!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:  # NaN too
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        if pm is not None and not callable(pm):
            raise TypeError(
                f"AgentInterpreter: pm must be a ProxyManager, a callable(path, params) or None, "
                f"got {type(pm).__name__}"
            )
        self.pm = pm
        self.max_output_chars = max_output_chars
        self.truncation_indicator = str(truncation_indicator)
        self.timeout = float(timeout)
        # Inside the worker output is capped in bytes (UTF-8 takes up to 4 per character); at least 1 MiB is
        # kept so the session records the untruncated output the model was shown a part of (§9.3).
        cap = max(max_output_chars * 4 + 4096, 1 << 20) if max_output_chars else 16 << 20
        if isinstance(backend, str):
            backend = resolve_backend(backend)
        memory = DEFAULT_MEMORY_MB if max_memory_mb is None else max_memory_mb
        if isinstance(backend, Executor):
            self.executor = backend
        elif backend == "subprocess":
            self.executor = SubprocessExecutor(max_memory_mb=memory, max_output_bytes=cap)
        elif backend == "bwrap":
            self.executor = BwrapExecutor(max_memory_mb=memory, max_output_bytes=cap)
        elif backend == "inprocess":
            self.executor = InProcessExecutor(max_output_bytes=cap)
        else:
            raise ValueError(f"unknown interpreter backend {backend!r}; use one of {list(BACKENDS)} or an Executor")
        self.backend = backend if isinstance(backend, str) else type(backend).__name__

    @property
    def namespace(self) -> Dict[str, Any]:
        """The variables of the ``inprocess`` backend (other backends keep them in another process)."""
        namespace: Optional[Dict[str, Any]] = getattr(self.executor, "namespace", None)
        if namespace is None:
            raise AttributeError(
                f"the '{self.backend}' backend keeps its namespace in another process; "
                f"only the 'inprocess' backend exposes .namespace"
            )
        return namespace

    def run(self, code: str) -> str:
        """Run ``code`` and return what the model should read."""
        return self.describe(self.execute(code))

    def execute(self, code: str) -> ExecResult:
        """Run ``code`` and return the raw result (``describe`` turns it into text)."""
        return self.executor.run(code, timeout=self.timeout, api=self.pm)

    def describe(self, result: ExecResult, clip: bool = True) -> str:
        """The text of ``result``: cut at ``max_output_chars`` for the model, or whole with ``clip=False``;
        known credentials (``lllm.secrets``) the code printed are replaced."""
        t = f"{self.timeout:g}"
        if result.status == "timeout":
            if self.executor.can_stop:
                return f"Error: execution exceeded {t}s and was terminated; interpreter state was reset."
            return f"Error: execution exceeded {t}s; {result.detail}; interpreter state was reset."
        if result.status == "crashed":
            return (
                f"Error: {result.detail} while running this code; interpreter state was reset "
                f"(variables and imports are gone)."
            )
        text = clip_output(
            result.output,
            result.error,
            result.overflow,
            self.max_output_chars if clip else 0,
            self.truncation_indicator,
        )
        return scrub_text(text) if text.strip() else NO_OUTPUT

    def reset(self) -> None:
        """Clear all variables (a fresh worker for process backends)."""
        self.executor.reset()

    def close(self) -> None:
        """Stop the worker, if any; a later ``run`` starts a new one."""
        self.executor.close()

    def __enter__(self) -> "AgentInterpreter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"AgentInterpreter(backend={self.backend!r}, timeout={self.timeout:g}, "
            f"max_output_chars={self.max_output_chars})"
        )


__all__ = ["AgentInterpreter", "clip_output", "resolve_backend", "BACKENDS", "DEFAULT_MEMORY_MB", "NO_OUTPUT"]
