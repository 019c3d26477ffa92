"""`lllm ui` arguments: a poll interval of zero, below zero or not finite is a usage error (exit 2, one line),
not a server whose live pages re-read the store in a busy loop."""

from __future__ import annotations

import pytest

from lllm.cli import build_parser, main


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_poll_interval_that_is_not_positive_is_a_usage_error(value, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        main(["ui", "--store", str(tmp_path / "none.db"), "--port", "0", "--poll", value])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"lllm ui: error: argument --poll: {value!r} is not a number of seconds above 0 (e.g. 1 or 0.5)"
    )
    assert "Traceback" not in err


def test_a_positive_poll_interval_is_taken():
    assert build_parser().parse_args(["ui", "--poll", "0.25"]).poll == 0.25
