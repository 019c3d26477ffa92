"""An ``async def`` endpoint (a proxy built on an async HTTP client) answers ``CALL_API`` with its result
(review session 7). It returned the coroutine itself, which ``CALL_API`` sent to the model's code as the
text ``<coroutine object ...>``, and the request was never made."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from lllm import Runtime
from lllm.proxies import BaseProxy, ProxyManager, ProxyRegistrator
from lllm.sandbox import AgentInterpreter


def make_pm() -> ProxyManager:
    rt = Runtime("s7-async")

    @ProxyRegistrator(path="books", name="Books", description="A catalogue.", runtime=rt)
    class Books(BaseProxy):
        @BaseProxy.endpoint(
            category="B", endpoint="get", description="One book.", params={"id*": (int, 1)}, response={}
        )
        async def get(self, id):
            await asyncio.sleep(0)
            return {"id": id, "title": f"Book {id}"}

    return ProxyManager(runtime=rt)


def test_an_async_endpoint_returns_its_result_from_a_thread():
    assert make_pm()("books/get", {"id": 7}) == {"id": 7, "title": "Book 7"}


@pytest.mark.parametrize("backend", ["inprocess", "subprocess"])
def test_call_api_on_an_async_endpoint_gets_the_data(backend):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with AgentInterpreter(make_pm(), backend=backend, timeout=30) as interp:
            out = interp.run("print(CALL_API('books/get', {'id': 3})['title'])")
        gc.collect()
    assert out == "Book 3\n"
    assert not [w for w in caught if "never awaited" in str(w.message)]


async def test_an_async_endpoint_called_on_a_running_loop_says_how_to_call_it():
    pm = make_pm()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TypeError, match="async"):
            pm("books/get", {"id": 1})
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]
