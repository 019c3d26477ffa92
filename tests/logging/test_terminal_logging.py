import io
import logging

import pytest

from lllm.logging import LOGGER_NAMES, ColoredFormatter, setup_logging
from lllm.logging.terminal import LEVEL_COLORS, RESET, parse_level


class TTY(io.StringIO):
    def isatty(self):
        return True


def _ours(logger):
    return [h for h in logger.handlers if getattr(h, "_lllm_terminal_handler", False)]


@pytest.fixture(autouse=True)
def restore_lllm_logger(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    root = logging.getLogger("lllm")
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _record(level=logging.INFO, msg="hello"):
    return logging.LogRecord("lllm.agent", level, __file__, 1, msg, None, None)


def test_library_adds_only_a_null_handler():
    import lllm.logging  # noqa: F401

    assert LOGGER_NAMES == (
        "lllm",
        "lllm.tactic",
        "lllm.agent",
        "lllm.invoker",
        "lllm.config",
        "lllm.proxy",
        "lllm.sandbox",
        "lllm.cua",
    )
    root = logging.getLogger("lllm")
    assert any(isinstance(h, logging.NullHandler) for h in root.handlers)
    assert not _ours(root)
    for name in LOGGER_NAMES[1:]:
        assert logging.getLogger(name).handlers == []


def test_setup_logging_is_idempotent_and_reconfigures():
    buf = io.StringIO()
    setup_logging("DEBUG", stream=buf)
    setup_logging("warning", stream=buf)
    setup_logging(logging.ERROR)
    root = logging.getLogger("lllm")
    assert len(_ours(root)) == 1
    assert root.level == logging.ERROR
    logging.getLogger("lllm.agent").warning("hidden")
    logging.getLogger("lllm.agent").error("shown")
    assert "hidden" not in buf.getvalue()
    assert "lllm.agent: shown" in buf.getvalue()


@pytest.mark.parametrize("bad", ["LOUD", "", None, True, -1, 1.5])
def test_bad_level_raises_value_error(bad):
    with pytest.raises(ValueError, match="Invalid log level"):
        setup_logging(bad)
    assert not _ours(logging.getLogger("lllm"))


def test_parse_level_names_and_ints():
    assert parse_level("info") == logging.INFO
    assert parse_level(" Debug ") == logging.DEBUG
    assert parse_level("WARN") == logging.WARNING
    assert parse_level(15) == 15


@pytest.mark.parametrize("level", list(LEVEL_COLORS))
def test_colors_per_level_on_a_tty(level):
    fmt = ColoredFormatter("%(message)s", stream=TTY())
    assert fmt.format(_record(level)) == f"{LEVEL_COLORS[level]}hello{RESET}"


def test_color_codes_are_as_specified():
    assert LEVEL_COLORS == {
        logging.DEBUG: "\x1b[90m",
        logging.INFO: "\x1b[32m",
        logging.WARNING: "\x1b[33m",
        logging.ERROR: "\x1b[31m",
        logging.CRITICAL: "\x1b[1;31m",
    }


def test_no_ansi_when_color_false():
    assert ColoredFormatter("%(message)s", color=False, stream=TTY()).format(_record()) == "hello"


def test_no_ansi_under_no_color(monkeypatch):
    fmt = ColoredFormatter("%(message)s", stream=TTY())
    monkeypatch.setenv("NO_COLOR", "1")
    assert fmt.format(_record()) == "hello"


def test_empty_no_color_does_not_disable(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "")
    assert "\x1b[" in ColoredFormatter("%(message)s", stream=TTY()).format(_record())


def test_no_ansi_on_non_tty_stream():
    assert ColoredFormatter("%(message)s", stream=io.StringIO()).format(_record()) == "hello"


def test_setup_logging_output_respects_tty_and_color():
    tty = TTY()
    setup_logging("INFO", stream=tty, fmt="%(levelname)s %(message)s")
    logging.getLogger("lllm.tactic").info("start")
    assert tty.getvalue() == f"{LEVEL_COLORS[logging.INFO]}INFO start{RESET}\n"
    plain = TTY()
    setup_logging("INFO", color=False, stream=plain, fmt="%(levelname)s %(message)s")
    logging.getLogger("lllm.tactic").info("end")
    assert plain.getvalue() == "INFO end\n"


def test_default_format_names_logger_and_level():
    buf = io.StringIO()
    setup_logging("INFO", stream=buf)
    logging.getLogger("lllm.invoker").info("call done")
    line = buf.getvalue()
    assert "INFO" in line and "lllm.invoker: call done" in line and "\x1b[" not in line
