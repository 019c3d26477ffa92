"""Fixtures of the ``lllm ui`` tests; the helpers live in ``ui_support`` (a name no other test folder uses, so
``tests/ui`` and ``tests/cli`` can be collected in one run)."""

from ui_support import browser, page, project, server  # noqa: F401 - fixtures, registered by being here
