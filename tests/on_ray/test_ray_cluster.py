"""Batches on a real two-node Ray cluster on this machine (``ray start --head`` plus a second ``ray start``
node, started and stopped here): results equal to a local ``ccall``, a worker process killed mid-batch,
the driver (``lllm batch``) killed and the batch run again, the shared limiter measured at the provider."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'lllm[ray]' to run tests/on_ray")

import ray_tactics  # noqa: E402
from cluster import LocalCluster  # noqa: E402
from ray_tactics import Ask, Echo, config  # noqa: E402
from support.pkgtree import write_tree  # noqa: E402

from lllm.ray import RateLimit  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-ray-cluster-workers-only"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two one-CPU nodes; the workers get the provider key from their node's environment; this process is
    connected to the cluster as a driver (the test tactics travel as a py_module)."""
    nodes = tmp_path_factory.mktemp("nodes")
    c = LocalCluster({**os.environ, "OPENAI_API_KEY": KEY, "LLLM_RAY_TEST_NODES": str(nodes)}, nodes=2)
    try:
        ray.init(address=c.address, log_to_driver=False, runtime_env={"py_modules": [ray_tactics]})
        c.nodes_dir = nodes  # type: ignore[attr-defined]
        yield c
    finally:
        ray.shutdown()
        c.stop()


@pytest.fixture
def base(fake_servers, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the local runs' key: the same as the workers'
    url = fake_servers("--latency-ms", "50")
    fake_servers.stats(url, reset=True)
    return url


def test_results_on_two_nodes_equal_a_local_ccall(cluster, base):
    tasks = [f"task {i}" for i in range(12)]

    async def collect(**opts):
        return dict([x async for x in Ask(config(base)).ccall(tasks, max_workers=4, **opts)])

    local = asyncio.run(collect())
    for f in cluster.nodes_dir.iterdir():
        f.unlink()
    remote = asyncio.run(collect(backend="ray"))
    assert remote == local and sorted(remote) == list(range(12))
    nodes = {line for f in cluster.nodes_dir.iterdir() for line in f.read_text().split()}
    assert len(nodes) == 2  # the pool spread over both nodes


def test_a_worker_process_killed_mid_batch_does_not_lose_the_batch(cluster, base, tmp_path):
    marker = tmp_path / "worker.pid"
    tactic = Ask(config(base), ckpt_dir=str(tmp_path / "store"))
    tasks = ["a", "b", f"hold:{marker}", "c", "d", "e"]
    out: list = []
    runner = threading.Thread(target=lambda: out.append(tactic.bcall(tasks, max_workers=3, backend="ray")))
    runner.start()
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # the actor's worker process, mid-task
    runner.join(120)
    assert out and all(isinstance(r, str) and r for r in out[0])
    assert len(tactic.log_store.list_sessions(state="success", limit=None)) == len(tasks)


PACKAGE = {
    "lllm.toml": '[package]\nname = "raykill"\n',
    "tactics/ask.py": """
        import os

        from lllm import Tactic

        class Ask(Tactic):
            name = "ask"
            agent_group = ["a"]

            def call(self, task: str) -> str:
                if task.startswith("die-once:"):  # the worker process dies the first time
                    marker = task.split(":", 1)[1]
                    if not os.path.exists(marker):
                        open(marker, "w").close()
                        print("a worker's last words on its stdout", flush=True)
                        os._exit(1)
                a = self.agents["a"]
                a.open("main")
                a.receive(task)
                return a.respond().content
    """,
}


def lllm_batch(cwd: Path, base: str, tasks: list, *extra: str, wait: bool = True):
    """``lllm batch --backend ray`` in a subprocess driver (no provider key in its environment)."""
    (cwd / "configs").mkdir(exist_ok=True)
    cfg = {"global": {"model_name": "gpt-4o-mini", "model_args": {"base_url": base}}}
    cfg["agent_configs"] = [{"name": "a", "system_prompt": "Answer."}]  # type: ignore[assignment]
    (cwd / "configs" / "default.yaml").write_text(json.dumps(cfg))
    (cwd / "tasks.txt").write_text("\n".join(tasks) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "RAY_ADDRESS"}
    env.update(LLLM_HOME=str(cwd / ".home"), PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "lllm.cli", "batch", "raykill.tactics:ask", "tasks.txt", "--store", "s.db"]
    cmd += ["--backend", "ray", "--progress-every", "0", *extra]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def succeeded(db: Path, batch_id: str) -> set:
    """Indexes of the batch's tasks the store holds as succeeded (read straight from the SQLite file)."""
    if not db.exists():
        return set()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
        names = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        if not names:
            return set()
    return {
        int(s.tags["lllm.batch_index"])
        for s in _store(db).list_sessions(tags={"lllm.batch_id": batch_id}, state="success", limit=None)
    }


def _store(db: Path):
    from lllm.logging import sqlite_store

    return sqlite_store(str(db))


def test_the_driver_killed_mid_batch_then_run_again_runs_only_the_missing_tasks(cluster, fake_servers, tmp_path):
    write_tree(tmp_path, PACKAGE)
    base = fake_servers("--latency-ms", "400")
    fake_servers.stats(base, reset=True)
    tasks = [f"task {i}" for i in range(16)]
    args = ("--address", cluster.address, "--batch-id", "killed", "--workers", "2")
    driver = lllm_batch(tmp_path, base, tasks, *args, wait=False)
    deadline = time.monotonic() + 120
    while len(succeeded(tmp_path / "s.db", "killed")) < 3 and time.monotonic() < deadline:
        assert driver.poll() is None, driver.communicate()[1][-2000:]
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)
    driver.communicate()
    done = succeeded(tmp_path / "s.db", "killed")
    assert 3 <= len(done) < len(tasks)
    fake_servers.stats(base, reset=True)
    again = lllm_batch(tmp_path, base, tasks, *args)
    assert again.returncode == 0, again.stderr[-2000:]
    records = [json.loads(line) for line in again.stdout.splitlines()]
    assert [r["index"] for r in records] == list(range(16)) and all("result" in r for r in records)
    assert fake_servers.stats(base)["chat_requests"] == len(tasks) - len(done)  # only the missing ones ran
    assert succeeded(tmp_path / "s.db", "killed") == set(range(16))


def test_lllm_batch_stdout_holds_only_json_lines_when_a_worker_dies(cluster, base, tmp_path):
    write_tree(tmp_path, PACKAGE)
    tasks = ["one", f"die-once:{tmp_path / 'died'}", "three"]
    out = lllm_batch(tmp_path, base, tasks, "--address", cluster.address)
    assert (tmp_path / "died").exists()  # the worker did die
    assert out.returncode == 0, out.stderr[-2000:]
    records = [json.loads(line) for line in out.stdout.splitlines()]  # every stdout line is a record
    assert [r["index"] for r in records] == [0, 1, 2] and all("result" in r for r in records)


def test_drivers_in_ray_client_mode_get_the_results_of_a_local_ccall(cluster, base, tmp_path):
    """``ray://`` (the head's Ray client server): ``bcall(..., backend_options={"address": "ray://..."})`` and
    ``lllm batch --address ray://...``, each in a driver process of its own without a provider key."""
    tasks = [f"task {i}" for i in range(8)] + ["fail nine"]

    async def collect():
        pairs = [x async for x in Echo(config(base)).ccall(tasks, max_workers=3, return_exceptions=True)]
        return [f"{type(r).__name__}: {r}" if isinstance(r, BaseException) else r for _, r in sorted(pairs)]

    local = asyncio.run(collect())
    for f in cluster.nodes_dir.iterdir():
        f.unlink()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, str(Path(__file__).with_name("drive_client.py")), cluster.client_address, base, *tasks]
    out = _once_more_if_ray_client_failed(
        lambda: subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == local
    assert local[0].startswith("task 0: ") and local[-1] == "ValueError: refused fail nine"
    nodes = {line for f in cluster.nodes_dir.iterdir() for line in f.read_text().split()}
    assert len(nodes) == 2  # the pool spread over both nodes
    write_tree(tmp_path, PACKAGE)
    cli = _once_more_if_ray_client_failed(
        lambda: lllm_batch(tmp_path, base, ["one", "two", "three"], "--address", cluster.client_address)
    )
    assert cli.returncode == 0, cli.stderr[-3000:]
    records = [json.loads(line) for line in cli.stdout.splitlines()]  # every stdout line is a record
    assert [r["index"] for r in records] == [0, 1, 2] and all(r["result"] for r in records)
    assert len(_store(tmp_path / "s.db").list_sessions(state="success", limit=None)) == 3  # written by the driver


def _once_more_if_ray_client_failed(run):
    """Run a ``ray://`` driver, and once more if the head's Ray client proxy could not start the server it starts
    for each driver (its process exited at startup; seen once in CI under load, never alone): a Ray-side failure
    before any task ran, and a new connection gets a new server. Any other failure is returned as it is."""
    out = run()
    if out.returncode != 0 and "Starting Ray client server failed" in out.stderr:
        out = run()
    return out


def arrivals(base: str) -> dict:
    """When each chat request reached the fake server (``chat``), and those it answered 429 (``429``)."""
    with urllib.request.urlopen(base.rsplit("/v1", 1)[0] + "/arrivals", timeout=5) as r:
        return {k: sorted(v) for k, v in json.loads(r.read()).items()}


def test_the_shared_limiter_caps_the_rate_the_provider_sees_across_two_nodes(cluster, fake_servers, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    base = fake_servers("--latency-ms", "5")
    fake_servers.stats(base, reset=True)
    rate, burst = 4.0, 2
    opts = {"rate_limit": RateLimit(rate, burst=burst), "actors": 2}
    out = Ask(config(base)).bcall([f"t{i}" for i in range(14)], max_workers=8, backend="ray", backend_options=opts)
    assert all(isinstance(r, str) for r in out)
    seen = arrivals(base)["chat"]
    assert len(seen) == 14
    # a token bucket lets at most burst + rate * T requests through in any window of T seconds
    for i in range(len(seen)):
        for j in range(i + 1, len(seen)):
            assert j - i + 1 <= burst + rate * (seen[j] - seen[i]) + 1, (i, j, seen[j] - seen[i])
    assert (len(seen) - burst) / (seen[-1] - seen[0]) <= rate * 1.1


def test_retry_after_pauses_every_worker_on_two_nodes(cluster, fake_servers, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    base = fake_servers("--p429", "0.25", "--retry-after", "1", "--seed", "11", "--latency-ms", "5")
    fake_servers.stats(base, reset=True)
    opts = {"rate_limit": RateLimit(100.0, burst=8), "actors": 2}
    out = Ask(config(base)).bcall([f"r{i}" for i in range(10)], max_workers=8, backend="ray", backend_options=opts)
    assert all(isinstance(r, str) for r in out)
    seen = arrivals(base)
    assert seen["429"], "no 429 was injected: pick another --seed"
    # once a worker hears a 429 it pauses the shared bucket for Retry-After (1 s): no worker on either node
    # sends a request in that second (requests already on their way when the 429 came may still arrive)
    for t in seen["429"]:
        assert not [a for a in seen["chat"] if t + 0.25 < a < t + 0.95], (t, seen)


POSTGRES_DSN = os.environ.get("LLLM_TEST_POSTGRES_DSN")


@pytest.fixture(params=["sqlite", "postgres"])
def store_spec(request, tmp_path):
    """Where a batch records: a SQLite file on this machine, or (with LLLM_TEST_POSTGRES_DSN) a fresh
    partition of a PostgreSQL database the workers write to themselves."""
    if request.param == "sqlite":
        return str(tmp_path / "s.db")
    if not POSTGRES_DSN:
        pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'lllm[postgres]')")
    return f"{POSTGRES_DSN}#ray-{uuid.uuid4().hex[:12]}"


def test_two_drivers_of_one_batch_never_run_a_task_twice(cluster, fake_servers, store_spec):
    base = fake_servers("--latency-ms", "500")
    fake_servers.stats(base, reset=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(Path(__file__).with_name("drive.py")), cluster.address, store_spec, "two", base, "10"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    drivers = [subprocess.Popen(cmd, env=env, **pipes) for _ in range(2)]  # at once: both find nothing done
    outs = [d.communicate(timeout=240) for d in drivers]
    assert all(d.returncode == 0 for d in drivers), [err[-2000:] for _, err in outs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert results[0] == results[1] and len(results[0]) == 10  # each driver ends with every result
    assert fake_servers.stats(base)["chat_requests"] == 10  # and every task ran exactly once


def test_workers_write_sessions_straight_to_a_shared_postgres_store(cluster, base, monkeypatch):
    if not POSTGRES_DSN:
        pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'lllm[postgres]')")
    from lllm.logging import postgres_store

    store = postgres_store(POSTGRES_DSN, partition=f"ray-{uuid.uuid4().hex[:12]}")

    def driver_writes(*a, **k):
        raise AssertionError("the driver wrote a session the workers should have written")

    monkeypatch.setattr(store, "save_session", driver_writes)
    monkeypatch.setattr(store, "record_batch_task", driver_writes)
    tactic = Ask(config(base), log_store=store)
    tasks = ["one", "fail two", "three", "four"]
    out = tactic.bcall(tasks, fail_fast=False, batch_id="pg", return_sessions=True, backend="ray")
    assert isinstance(out[1], ValueError) and all(s.session_id for s in (out[0], out[2], out[3]))
    stored = store.list_sessions(tags={"lllm.batch_id": "pg"}, limit=None)
    assert sorted(s.state for s in stored) == ["failure", "success", "success", "success"]
    assert store.batch_task("pg", 2)["session_id"] == out[2].session_id  # the worker noted the task as done
    fake_servers_before = base  # the rerun reads the three successes back from PostgreSQL
    again = Ask(config(fake_servers_before), log_store=store).bcall(
        tasks, fail_fast=False, batch_id="pg", backend="ray"
    )
    assert again[0] == out[0].delivery and isinstance(again[1], ValueError)  # read back from PostgreSQL
    assert len(store.list_sessions(tags={"lllm.batch_id": "pg"}, limit=None)) == 5  # + the failed task's rerun


def test_a_worker_node_killed_mid_batch_does_not_lose_the_batch(cluster, fake_servers, tmp_path):
    """The module's last test: afterwards the cluster has one node left."""
    base = fake_servers("--latency-ms", "300")
    fake_servers.stats(base, reset=True)
    tactic = Ask(config(base), ckpt_dir=str(tmp_path / "store"))
    tasks = [f"n{i}" for i in range(12)]
    out: list = []
    runner = threading.Thread(target=lambda: out.append(tactic.bcall(tasks, max_workers=4, backend="ray")))
    runner.start()
    deadline = time.monotonic() + 60
    while fake_servers.stats(base)["chat_requests"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.kill_node(1)  # the second node's raylet, its workers and all: mid-batch
    runner.join(180)
    assert out and all(isinstance(r, str) and r for r in out[0])
    assert len(tactic.log_store.list_sessions(state="success", limit=None)) == len(tasks)
    while len([n for n in ray.nodes() if n["Alive"]]) > 1 and time.monotonic() < deadline + 60:
        time.sleep(0.2)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 1  # the node was indeed lost
