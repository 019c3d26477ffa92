"""Session 7 review (c): the "Call:" line of ``endpoint_docs`` is the code the model copies into run_python.
It was written as JSON (``true``, ``null``), so copied as written it failed with ``NameError: name 'true'
is not defined``. It is now a Python call; the offline test model reads it, and the old JSON form too."""

from __future__ import annotations

import pytest

from lllm import Runtime
from lllm.invokers.offline import _proxy_code
from lllm.proxies import BaseProxy, ProxyManager, ProxyRegistrator
from lllm.sandbox import AgentInterpreter


def make_pm() -> ProxyManager:
    rt = Runtime("s7c-call-line")

    @ProxyRegistrator(path="books", name="Books", description="A catalogue.", runtime=rt)
    class Books(BaseProxy):
        @BaseProxy.endpoint(
            category="B",
            endpoint="search",
            description="Find books.",
            params={"q*": (str, 'it\'s "new"'), "exact": (bool, True), "since": (int, None), "tags": (list, ["a"])},
            response={},
        )
        def search(self, q, exact=False, since=None, tags=None):
            return {"q": q, "exact": exact, "since": since, "tags": tags}

    return ProxyManager(runtime=rt)


def call_line(pm: ProxyManager) -> str:
    return next(x for x in pm.endpoint_docs("books").splitlines() if x.startswith("Call: "))[len("Call: ") :]


def test_the_documented_call_runs_as_written_in_run_python():
    pm = make_pm()
    line = call_line(pm)
    with AgentInterpreter(pm, backend="subprocess", timeout=30) as interp:
        out = interp.run(f"print({line})")
    assert out.strip() == repr({"q": 'it\'s "new"', "exact": True, "since": None, "tags": ["a"]}), line


@pytest.mark.parametrize(
    "docs",
    [
        "Call: CALL_API('books/search', {'q': 'x', 'exact': True, 'since': None})",  # this lllm
        'Call: CALL_API("books/search", {"q": "x", "exact": true, "since": null})',  # recorded by an older one
    ],
)
def test_the_offline_model_reads_the_call_line_old_and_new(docs):
    code = _proxy_code("books", docs)
    assert "CALL_API('books/search', {'q': 'x', 'exact': True})" in code
    compile(code, "<test>", "exec")


def test_the_offline_model_calls_the_documented_endpoint_from_current_docs():
    pm = make_pm()
    code = _proxy_code("books", pm.endpoint_docs("books"))
    with AgentInterpreter(pm, backend="subprocess", timeout=30) as interp:
        out = interp.run(code)
    assert out.startswith("books/search {") and '"exact": true' in out
