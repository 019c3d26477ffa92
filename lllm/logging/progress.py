"""Progress of a batch for ``lllm batch``: done, failed, rate, ETA and cost.

On a terminal it is a tqdm bar; otherwise (CI logs, files) a plain line every ``every_s`` seconds
and one at the end, so a long batch shows it is alive without flooding the log."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO


class BatchProgress:
    """Counts finished tasks of a batch of ``total`` and shows them on ``stream`` (default: ``sys.stderr``)."""

    def __init__(
        self,
        total: int,
        stream: Optional[TextIO] = None,
        tty: Optional[bool] = None,
        every_s: float = 10.0,
        clock: Any = time.monotonic,
    ):
        stream = sys.stderr if stream is None else stream  # the stderr of now (redirected, captured), by default
        self.total, self.stream, self.every_s, self.clock = total, stream, every_s, clock
        self.done = self.failed = 0
        self.cost = 0.0
        self.started = self._last = clock()
        self.tty = stream.isatty() if tty is None else tty
        self._bar: Any = None
        if self.tty:
            import shutil

            from tqdm import tqdm

            size = shutil.get_terminal_size((100, 20))  # a new pty may report 0 x 0: tqdm then shows nothing
            self._bar = tqdm(
                total=total,
                file=stream,
                unit="task",
                ncols=size.columns or 100,
                nrows=size.lines if size.lines > 0 else 20,
                leave=True,
            )

    def update(self, failed: bool = False, cost: float = 0.0) -> None:
        """One more task finished (``failed`` or not), costing ``cost`` USD."""
        self.done += 1
        self.failed += bool(failed)
        self.cost += cost
        if self._bar is not None:
            self._bar.set_postfix_str(f"failed {self.failed}, ${self.cost:.4f}", refresh=False)
            self._bar.update(1)
        elif self.clock() - self._last >= self.every_s:
            self._last = self.clock()
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        """``done/total, failed, rate, ETA, cost`` as one plain line."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 and left else ("0s" if not left else "?")
        return (
            f"progress: {self.done}/{self.total} done, {self.failed} failed, {rate:.2f} tasks/s, "
            f"ETA {eta}, ${self.cost:.6f}"
        )

    def close(self) -> None:
        """Finish the bar, or print the final line."""
        if self._bar is not None:
            self._bar.close()
        else:
            print(self.line(), file=self.stream, flush=True)


__all__ = ["BatchProgress"]
