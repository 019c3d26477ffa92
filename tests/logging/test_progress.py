"""The batch progress goes to the ``sys.stderr`` of the moment (redirected, captured), not the one at import."""

from __future__ import annotations

import contextlib
import io

from lllm.logging.progress import BatchProgress


def test_progress_follows_a_redirected_stderr():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        progress = BatchProgress(1, every_s=0.0)
        progress.update(cost=0.5)
        progress.close()
    assert "progress: 1/1 done, 0 failed" in err.getvalue()
