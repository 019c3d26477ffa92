"""bcall/ccall with backend="ray" on a real local Ray instance against the fake OpenAI server."""

from __future__ import annotations

import asyncio

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'lllm[ray]' to run tests/on_ray")

import ray_tactics  # noqa: E402
from ray import cloudpickle  # noqa: E402
from ray_tactics import Ask, AsyncAsk, config  # noqa: E402

from lllm.errors import ConfigError  # noqa: E402
from lllm.logging import local_store  # noqa: E402
from lllm.ray import RateLimit, task_payload  # noqa: E402
from lllm.ray.backend import tactic_spec  # noqa: E402

KEY = "sk-ray-driver-only-7f3a9c"


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the module (2 CPUs); the test tactics travel as a py_module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("OPENAI_API_KEY", KEY)  # before ray.init: the local workers inherit it from this process
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"py_modules": [ray_tactics]})
    yield
    ray.shutdown()
    mp.undo()


@pytest.fixture
def base(fake_servers, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    url = fake_servers("--latency-ms", "20")
    fake_servers.stats(url, reset=True)
    return url


def test_bcall_on_ray_equals_local_bcall_in_input_order(cluster, base, tmp_path):
    tasks = [f"task {i}" for i in range(12)]
    local = Ask(config(base)).bcall(tasks, max_workers=4)
    tactic = Ask(config(base), ckpt_dir=str(tmp_path))
    remote = tactic.bcall(tasks, max_workers=4, backend="ray")
    assert remote == local and all(isinstance(r, str) and r for r in remote)
    sessions = tactic.log_store.list_sessions(limit=None)
    assert len(sessions) == 12 and {s.state for s in sessions} == {"success"}  # shipped back and written


def test_failures_are_per_task_and_their_sessions_are_kept(cluster, base, tmp_path):
    tactic = Ask(config(base), ckpt_dir=str(tmp_path))
    tasks = ["a", "fail b", "c"]
    out = tactic.bcall(tasks, fail_fast=False, backend="ray")
    assert isinstance(out[1], ValueError) and "refused fail b" in str(out[1])
    assert isinstance(out[0], str) and isinstance(out[2], str)
    states = sorted(s.state for s in tactic.log_store.list_sessions(limit=None))
    assert states == ["failure", "success", "success"]
    with pytest.raises(ValueError, match="refused fail b"):
        tactic.bcall(tasks, backend="ray")


def test_ccall_on_ray_yields_every_index(cluster, base):
    tactic = AsyncAsk(config(base))

    async def collect():
        return dict([x async for x in tactic.ccall([f"t{i}" for i in range(6)], max_workers=3, backend="ray")])

    out = asyncio.run(collect())
    assert sorted(out) == list(range(6)) and all(isinstance(v, str) for v in out.values())


def test_return_sessions(cluster, base, tmp_path):
    tactic = Ask(config(base), ckpt_dir=str(tmp_path))
    out = tactic.bcall(["x", "y"], return_sessions=True, backend="ray")
    assert [s.state for s in out] == ["success", "success"] and all(s.session_id for s in out)
    assert tactic.log_store.load_session(out[1].session_id).delivery == out[1].delivery


def test_durable_batch_reruns_only_missing_tasks(cluster, base, fake_servers, tmp_path):
    store = local_store(str(tmp_path))
    tasks = ["one", "fail two", "three", "four"]
    first = Ask(config(base), log_store=store).bcall(tasks, fail_fast=False, batch_id="b1", backend="ray")
    assert isinstance(first[1], ValueError)
    fake_servers.stats(base, reset=True)
    tasks[1] = "fail two"  # same task: it fails again, and it is the only one that runs
    again = Ask(config(base), log_store=store).bcall(tasks, fail_fast=False, batch_id="b1", backend="ray")
    assert again[0] == first[0] and again[2] == first[2] and again[3] == first[3]
    assert fake_servers.stats(base)["chat_requests"] == 0  # the three successes came from the store
    with pytest.raises(ValueError, match="different task"):
        Ask(config(base), log_store=store).bcall(["other", *tasks[1:]], batch_id="b1", backend="ray")


def test_provider_key_is_never_in_the_payloads(cluster, base):
    tactic = Ask(config(base))
    spec = tactic_spec(tactic, RateLimit(5.0))
    payload = task_payload("task 0", {"t": "1"}, {"m": 1}, {})
    assert KEY.encode() not in spec and KEY.encode() not in payload
    assert cloudpickle.loads(spec)[1] == tactic.config
    # and the workers still authenticate: the key reaches them through their environment
    assert isinstance(tactic.bcall(["hello"], backend="ray")[0], str)


def test_a_credential_in_the_config_is_refused(cluster, base):
    cfg = config(base)
    cfg["global"]["model_args"]["api_key"] = "sk-literal-in-config-123"
    with pytest.raises(ConfigError, match="holds a credential"):
        Ask(cfg).bcall(["x"], backend="ray")


def test_unknown_backend(base):
    with pytest.raises(ConfigError, match="unknown batch backend 'dask'"):
        Ask(config(base)).bcall(["x"], backend="dask")


def test_a_worker_that_cannot_reach_the_shared_store_sends_its_sessions_to_the_driver(base):
    from lllm.ray.backend import RayBatch

    spec = cloudpickle.loads(tactic_spec(Ask(config(base)), None))
    unreachable = ("postgresql://lllm@127.0.0.1:1/none?connect_timeout=2", "p")  # nothing listens on port 1
    worker = RayBatch(cloudpickle.dumps((*spec[:5], unreachable)))  # the actor's class, run in this process
    ok, value, saved, written = worker.run(task_payload("hello", {"t": "1"}, {}, {}), False, True)
    assert ok and isinstance(value, str) and not written
    assert saved is not None and saved[0].state == "success" and saved[1] == {"t": "1"}  # for the driver to write


def test_runtime_env_modules_travel_as_their_paths():
    """Ray's client mode (``ray://``) cannot copy a module object in ``py_modules``: it goes as its path."""
    import types
    from pathlib import Path

    from lllm.ray.backend import _module_paths

    env = {"py_modules": [ray_tactics, "keep/this"], "env_vars": {"A": "1"}}
    assert _module_paths(env) == {"py_modules": [ray_tactics.__file__, "keep/this"], "env_vars": {"A": "1"}}
    assert _module_paths({"py_modules": [pytest]})["py_modules"] == [str(Path(pytest.__file__).parent)]
    assert env["py_modules"][0] is ray_tactics  # the caller's dict is left as it was
    with pytest.raises(ConfigError, match="module 'nowhere'"):
        _module_paths({"py_modules": [types.ModuleType("nowhere")]})
