"""The typed usage file runs as written (mypy checks its types, and that its marked mistakes stay errors, in
``.ci/lint``)."""

from lllm import Runtime
from tests.public_types.public_api_usage import typed_use


def test_the_typed_usage_runs_and_registers_what_it_says():
    assert typed_use(Runtime()) == ["typing/ask", "__typing/ask_exception", "typing/lookup"]
