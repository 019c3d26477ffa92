"""Terminal logging (§9.4): the ``lllm`` logger tree, ``setup_logging`` and a colouring formatter.

As a library, LLLM only adds a ``NullHandler``; applications opt in to output with ``setup_logging``."""

from __future__ import annotations

import logging
import os
import sys
from typing import IO, Any, Optional, Union

LOGGER_NAMES = (
    "lllm",
    "lllm.tactic",
    "lllm.agent",
    "lllm.invoker",
    "lllm.config",
    "lllm.proxy",
    "lllm.sandbox",
    "lllm.cua",
)
DEFAULT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
DEFAULT_DATEFMT = "%H:%M:%S"
RESET = "\x1b[0m"
LEVEL_COLORS = {
    logging.DEBUG: "\x1b[90m",  # grey
    logging.INFO: "\x1b[32m",  # green
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;31m",  # bold red
}
_LEVEL_NAMES = {
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.FATAL,
    "ERROR": logging.ERROR,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "NOTSET": logging.NOTSET,
}
_HANDLER_FLAG = "_lllm_terminal_handler"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or fake streams
        return False


class ColoredFormatter(logging.Formatter):
    """Colours each record by level (DEBUG grey, INFO green, WARNING yellow, ERROR red, CRITICAL bold red).

    No ANSI codes when ``color=False``, when ``NO_COLOR`` is set, or when ``stream`` is not a TTY."""

    def __init__(
        self,
        fmt: Optional[str] = None,
        datefmt: Optional[str] = DEFAULT_DATEFMT,
        color: bool = True,
        stream: Optional[IO[str]] = None,
    ):
        super().__init__(fmt or DEFAULT_FORMAT, datefmt)
        self.color = color
        self._tty = _isatty(stream if stream is not None else sys.stderr)

    @property
    def use_color(self) -> bool:
        """Asked for, on a TTY, and ``NO_COLOR`` unset or empty (checked per record)."""
        return bool(self.color) and self._tty and not os.environ.get("NO_COLOR")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.use_color:
            return text
        code = (
            LEVEL_COLORS.get(record.levelno)
            or LEVEL_COLORS[max((lv for lv in LEVEL_COLORS if lv <= record.levelno), default=logging.DEBUG)]
        )
        return f"{code}{text}{RESET}"


def parse_level(level: Union[str, int]) -> int:
    """A logging level from a name (case-insensitive) or a non-negative int; ``ValueError`` otherwise."""
    if isinstance(level, bool) or not isinstance(level, (str, int)):
        raise ValueError(f"Invalid log level {level!r}; use DEBUG, INFO, WARNING, ERROR, CRITICAL or an int")
    if isinstance(level, int):
        if level < 0:
            raise ValueError(f"Invalid log level {level!r}; an int level must be >= 0")
        return level
    try:
        return _LEVEL_NAMES[level.strip().upper()]
    except KeyError:
        raise ValueError(f"Invalid log level {level!r}; use DEBUG, INFO, WARNING, ERROR, CRITICAL or an int") from None


def setup_logging(
    level: Union[str, int] = "INFO", color: bool = True, fmt: Optional[str] = None, stream: Optional[IO[str]] = None
) -> logging.Logger:
    """Send ``lllm`` logs at ``level`` and above to ``stream`` (default stderr). Idempotent: calling
    again reconfigures the one handler it installed instead of adding another."""
    lvl = parse_level(level)
    root = logging.getLogger("lllm")
    handler = next(
        (h for h in root.handlers if isinstance(h, logging.StreamHandler) and getattr(h, _HANDLER_FLAG, False)), None
    )
    if handler is None:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        setattr(handler, _HANDLER_FLAG, True)
        root.addHandler(handler)
    elif stream is not None and handler.stream is not stream:
        handler.setStream(stream)
    handler.setFormatter(ColoredFormatter(fmt, color=color, stream=handler.stream))
    root.setLevel(lvl)
    return root


def _install_null_handler() -> None:
    root = logging.getLogger("lllm")
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())
    for name in LOGGER_NAMES[1:]:
        logging.getLogger(name)


_install_null_handler()

__all__ = ["setup_logging", "ColoredFormatter", "LOGGER_NAMES", "LEVEL_COLORS", "parse_level"]
