"""Logging: terminal output (``setup_logging``) and, later, session log stores (§9)."""
from __future__ import annotations

from lllm.logging.terminal import LOGGER_NAMES, ColoredFormatter, setup_logging

__all__ = ["setup_logging", "ColoredFormatter", "LOGGER_NAMES"]
