"""lllm.eval on a data set with backend="ray": every side's batch runs on a real local Ray instance against
fake OpenAI servers, and the report's numbers equal those of the same evaluation run locally."""

from __future__ import annotations

import os

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'lllm[ray]' to run tests/on_ray")

import ray_tactics  # noqa: E402
from ray_tactics import Ask, config  # noqa: E402

from lllm.errors import ConfigError  # noqa: E402
from lllm.eval import BASELINE, evaluate_dataset, parse_variants  # noqa: E402
from lllm.logging import sqlite_store  # noqa: E402
from lllm.testing import MockInvoker  # noqa: E402

KEY = "sk-ray-eval-driver-2b81d0"
SHORT = "This is"  # the two-word answer of the variant's server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One local Ray instance for the module (2 CPUs); the test tactics travel as a py_module. Each process
    that runs a task notes it in the folder yielded (``ray_tactics.note_node``)."""
    nodes = tmp_path_factory.mktemp("nodes")
    mp = pytest.MonkeyPatch()
    mp.setenv("OPENAI_API_KEY", KEY)  # before ray.init: the local workers inherit it from this process
    mp.setenv("LLLM_RAY_TEST_NODES", str(nodes))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"py_modules": [ray_tactics]})
    yield nodes
    ray.shutdown()
    mp.undo()


def words(result: object) -> int:
    """Words in the answer (fewer is better here)."""
    return len(str(result).split())


def numbers(report):
    """Everything the report says except timings: results, errors, metric values, summary statistics."""
    items = [
        (
            it.case_id,
            side,
            o.result,
            o.error,
            o.cost,
            o.model_calls,
            {k: v for k, v in o.metrics.items() if k != "latency"},
        )
        for it in report.items
        for side, o in sorted(it.outcomes.items())
    ]
    summary = {}
    for side, s in report.summary.items():
        summary[side] = (
            s.errors,
            {k: (m.mean, m.low, m.high, m.n) for k, m in s.metrics.items() if k != "latency"},
            {
                k: (c.wins, c.ties, c.losses, c.delta.mean, c.delta.low, c.delta.high)
                for k, c in s.vs_baseline.items()
                if k != "latency"
            },
        )
    return items, summary


def test_an_evaluation_on_ray_gives_the_numbers_of_a_local_one(cluster, fake_servers, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    base, short = fake_servers("--answer-words", "6"), fake_servers("--answer-words", "2")
    cases = [{"task": f"question {i}", "expected": SHORT} for i in range(6)] + ["fail this one"]
    variants = parse_variants([f"short:global.model_args.base_url={short}"])
    metrics = ["success", "exact_match", "cost", "latency", words]
    kw = dict(config=config(base), workers=3, seed=7, resamples=300)
    local = evaluate_dataset(Ask, cases, variants, metrics, **kw)
    assert {p.name for p in cluster.iterdir()} == {f"{os.getpid()}.node"}  # local: in this process
    fake_servers.stats(base, reset=True)
    fake_servers.stats(short, reset=True)
    store = sqlite_store(str(tmp_path / "s.db"))
    remote = evaluate_dataset(Ask, cases, variants, metrics, backend="ray", log_store=store, eval_id="r1", **kw)
    # the model calls of the Ray run reached the servers (from the workers), one per task that asks a model
    assert fake_servers.stats(base)["chat_requests"] == 6 and fake_servers.stats(short)["chat_requests"] == 6
    assert numbers(remote) == numbers(local)
    workers = {p.name for p in cluster.iterdir()} - {f"{os.getpid()}.node"}
    assert workers and sum(len(cluster.joinpath(w).read_text().split()) for w in workers) == 12  # on Ray's workers
    cmp = remote.summary["short"].vs_baseline["exact_match"]
    assert (cmp.wins, cmp.ties, cmp.losses) == (6, 0, 0) and remote.summary[BASELINE].errors == 1
    assert remote.items[0].outcomes["short"].result == SHORT and remote.items[0].outcomes[BASELINE].latency_s > 0
    # the workers' sessions came back and were saved as the evaluation's batches
    saved = store.list_sessions(tags={"lllm.eval_id": "r1"}, limit=None)
    assert len(saved) == 14 and {r.tags["lllm.batch_id"] for r in saved} == {"r1:baseline", "r1:short"}


def test_an_invoker_object_is_refused_on_ray():
    with pytest.raises(ConfigError, match="does not travel to the workers"):
        evaluate_dataset(
            Ask,
            ["x"],
            parse_variants(["b:model=y"]),
            config=config("http://127.0.0.1:9/v1"),
            backend="ray",
            invoker=MockInvoker(["x"]),
        )
