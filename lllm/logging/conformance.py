"""A conformance test suite for log backends (needs pytest), reusable for third-party backends.

Mix the classes into a test class of yours that provides a ``backend`` fixture returning a fresh,
empty backend::

    from lllm.logging.conformance import LogBackendConformance, LogStoreConformance

    class TestMyBackend(LogBackendConformance, LogStoreConformance):
        @pytest.fixture
        def backend(self, tmp_path):
            b = MyBackend(tmp_path)
            yield b
            b.close()

``LogBackendConformance`` checks the key/value and lease contracts; ``LogStoreConformance`` checks a ``LogStore``
on top of it (round trips, filters, ordering, limits, export, delete, redaction), which exercises
``IndexedBackend.query_index`` when the backend has one. Tests that need stored data skip on a
``NoOpBackend``."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional

import pytest

from lllm.core.dialog import Dialog
from lllm.logging.backends import (
    STORE_SCHEMA_VERSION,
    IndexedBackend,
    LogBackend,
    LogStoreError,
    NoOpBackend,
    SessionQuery,
)
from lllm.logging.conformance_data import (
    BAD_KEYS,
    BASE_TIME,
    Delivery,
    Opaque,
    expected_ids,
    make_session,
    needs_storage,
    raise_here,
    save_dataset,
)
from lllm.logging.store import LogStore


class LogBackendConformance:
    """The key/value contract of ``LogBackend`` (§9.1)."""

    def test_get_of_an_absent_key_is_none_and_delete_is_silent(self, backend: LogBackend) -> None:
        assert backend.get("p/absent") is None
        backend.delete("p/absent")
        assert backend.list_keys("p/") == []

    def test_put_get_round_trips_any_bytes(self, backend: LogBackend) -> None:
        needs_storage(backend)
        data = bytes(range(256)) * 4
        backend.put("p/bin", data)
        backend.put("p/empty", b"")
        assert backend.get("p/bin") == data and backend.get("p/empty") == b""

    def test_put_replaces_and_delete_removes(self, backend: LogBackend) -> None:
        needs_storage(backend)
        backend.put("p/k", b"one")
        backend.put("p/k", b"two")
        assert backend.get("p/k") == b"two" and backend.list_keys("p/") == ["p/k"]
        backend.delete("p/k")
        backend.delete("p/k")
        assert backend.get("p/k") is None and backend.list_keys("p/") == []

    def test_large_values(self, backend: LogBackend) -> None:
        needs_storage(backend)
        data = b"x" * (2 * 1024 * 1024)
        backend.put("p/large", data)
        assert backend.get("p/large") == data

    def test_list_keys_is_sorted_and_matches_prefixes_literally(self, backend: LogBackend) -> None:
        needs_storage(backend)
        keys = ["a/b/c", "a/b/d", "a/bc/x", "a_b/x", "aXb/x", "a.b/x", "a-b/x", "ab", "b/a"]
        for k in reversed(keys):
            backend.put(k, k.encode())
        assert backend.list_keys() == sorted(keys)
        assert backend.list_keys("a/b/") == ["a/b/c", "a/b/d"]
        assert backend.list_keys("a/b") == ["a/b/c", "a/b/d", "a/bc/x"]
        assert backend.list_keys("a_b") == ["a_b/x"]  # "_" is not a wildcard
        assert backend.list_keys("a.b") == ["a.b/x"]  # nor is "."
        assert backend.list_keys("a-") == ["a-b/x"]
        assert backend.list_keys("zz") == []

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_invalid_keys_raise_value_error_naming_the_key(self, backend: LogBackend, key: str) -> None:
        ops: List[Callable[[], object]] = [
            lambda: backend.put(key, b"x"),
            lambda: backend.get(key),
            lambda: backend.delete(key),
        ]
        for op in ops:
            with pytest.raises(ValueError, match=re.escape(repr(key))):
                op()

    @pytest.mark.parametrize("prefix", ["../", "a/../", "..", "a b", "a%", "a\\"])
    def test_invalid_prefixes_raise_value_error(self, backend: LogBackend, prefix: str) -> None:
        with pytest.raises(ValueError, match=re.escape(repr(prefix))):
            backend.list_keys(prefix)

    def test_concurrent_threads_lose_nothing(self, backend: LogBackend) -> None:
        needs_storage(backend)
        errors: List[BaseException] = []

        def writer(t: int) -> None:
            try:
                for i in range(40):
                    backend.put(f"c/{t}/{i:03d}", f"{t}-{i}".encode())
                    assert backend.get(f"c/{t}/{i:03d}") == f"{t}-{i}".encode()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert len(backend.list_keys("c/")) == 240

    # -- leases -------------------------------------------------------------------------------
    def test_a_lease_is_exclusive_until_released(self, backend: LogBackend) -> None:
        needs_storage(backend)
        before = time.time()
        assert backend.acquire_lease("p/l", "A", 30) and not backend.acquire_lease("p/l", "B", 30)
        lease = backend.get_lease("p/l")
        assert lease is not None and lease.holder == "A" and before + 25 < lease.expires_at < time.time() + 35
        assert backend.acquire_lease("p/l", "A", 300)  # the holder renews
        assert backend.get_lease("p/l").expires_at > lease.expires_at + 200  # type: ignore[union-attr]
        backend.release_lease("p/l", "B")  # not B's: nothing happens
        assert not backend.acquire_lease("p/l", "B", 30) and backend.get_lease("p/l").holder == "A"  # type: ignore
        backend.release_lease("p/l", "A")
        backend.release_lease("p/l", "A")
        assert backend.get_lease("p/l") is None and backend.get_lease("p/absent") is None
        assert backend.acquire_lease("p/l", "B", 30) and backend.get_lease("p/l").holder == "B"  # type: ignore

    def test_an_expired_lease_can_be_taken_over_and_its_old_holder_loses_it(self, backend: LogBackend) -> None:
        needs_storage(backend)
        assert backend.acquire_lease("p/l", "dead", 0.05)
        lease = backend.get_lease("p/l")
        assert lease is not None
        while time.time() <= lease.expires_at + 0.01:  # the store's clock is this machine's
            time.sleep(0.02)
        assert backend.acquire_lease("p/l", "next", 30)
        assert not backend.acquire_lease("p/l", "dead", 30) and backend.get_lease("p/l").holder == "next"  # type: ignore
        backend.release_lease("p/l", "dead")
        assert backend.get_lease("p/l").holder == "next"  # type: ignore[union-attr]

    def test_leases_are_a_namespace_of_their_own(self, backend: LogBackend) -> None:
        needs_storage(backend)
        assert backend.acquire_lease("p/k", "A", 30)
        assert backend.list_keys() == [] and backend.get("p/k") is None
        backend.put("p/k", b"v")
        backend.delete("p/k")
        assert backend.get_lease("p/k").holder == "A"  # type: ignore[union-attr]
        assert backend.acquire_lease("p/k/deeper", "B", 30) and backend.list_keys() == []

    def test_exactly_one_of_many_threads_gets_a_lease(self, backend: LogBackend) -> None:
        needs_storage(backend)
        winners: Dict[int, List[str]] = {k: [] for k in range(5)}
        barrier = threading.Barrier(8)

        def racer(t: int) -> None:
            barrier.wait()
            for k in range(5):
                if backend.acquire_lease(f"race/{k}", f"h{t}", 30):
                    winners[k].append(f"h{t}")

        threads = [threading.Thread(target=racer, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert all(
            len(w) == 1 and backend.get_lease(f"race/{k}").holder == w[0]  # type: ignore[union-attr]
            for k, w in winners.items()
        ), winners

    @pytest.mark.parametrize(
        "holder,ttl",
        [("", 1), (None, 1), ("A", 0), ("A", -1), ("A", math.nan), ("A", math.inf), ("A", True), ("A", "10")],
    )
    def test_invalid_lease_arguments_raise_value_error(self, backend: LogBackend, holder: Any, ttl: Any) -> None:
        needs_storage(backend)
        with pytest.raises(ValueError, match="lease"):
            backend.acquire_lease("p/l", holder, ttl)
        for key in ("../x", "a b", ""):
            with pytest.raises(ValueError, match=re.escape(repr(key))):
                backend.acquire_lease(key, "A", 1)

    def test_a_backend_without_storage_refuses_leases_clearly(self, backend: LogBackend) -> None:
        if not isinstance(backend, NoOpBackend):
            pytest.skip("the backend stores data")
        for op in (
            lambda: backend.acquire_lease("p/l", "A", 1),
            lambda: backend.release_lease("p/l", "A"),
            lambda: backend.get_lease("p/l"),
        ):
            with pytest.raises(LogStoreError, match="no-op store"):
                op()

    def test_indexed_backends_keep_index_rows_in_step_with_their_keys(self, backend: LogBackend) -> None:
        if not isinstance(backend, IndexedBackend):
            pytest.skip("not an IndexedBackend")
        entry = {
            "session_id": "s1",
            "tactic_path": "a::b",
            "state": "success",
            "timestamp": "2024-05-01T12:00:00.000000+00:00",
            "tags": {"k": "v"},
        }
        backend.put_index("p/index/s1", b"entry-1", "p", entry)
        backend.put_index("p/index/s2", b"entry-2", "p", {**entry, "session_id": "s2", "tags": {}})
        assert backend.get("p/index/s1") == b"entry-1"
        assert backend.query_index(SessionQuery("p", tags={"k": "v"}, tactic_paths=("a::b",))) == [b"entry-1"]
        assert backend.query_index(SessionQuery("p")) == [b"entry-2", b"entry-1"]  # same time: id descending
        assert backend.query_index(SessionQuery("p", limit=1)) == [b"entry-2"]
        assert backend.query_index(SessionQuery("other")) == []
        backend.put_index("p/index/s1", b"entry-1b", "p", {**entry, "state": "failure"})  # re-index replaces
        assert backend.query_index(SessionQuery("p", state="failure")) == [b"entry-1b"]
        assert backend.query_index(SessionQuery("p", state="success")) == [b"entry-2"]
        backend.put("p/index/s1", b"plain")  # a plain put drops the row
        backend.delete("p/index/s2")
        assert backend.query_index(SessionQuery("p")) == [] and backend.list_keys("p/") == ["p/index/s1"]


class LogStoreConformance:
    """``LogStore`` on the backend (§9.1): what every backend must make true."""

    def test_save_and_load_round_trip(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        session = make_session()
        sid = store.save_session(session, tags={"team": "a"}, metadata={"run": 1})
        assert re.fullmatch(r"20240501_120000_[0-9a-f]{8}", sid)
        loaded = store.load_session(sid)
        assert loaded.model_dump(mode="json") == {**session.model_dump(mode="json"), "session_id": sid}
        assert loaded.total_cost == session.total_cost and loaded.total_cost.cost == 0.25
        assert (
            loaded.agent_sessions["writer"][0].invoke_traces[0][0].request
            == session.agent_sessions["writer"][0].invoke_traces[0][0].request
        )
        assert loaded.agent_sessions["writer"][0].interrupts[0][0].arguments == {"q": "x"}
        dialog = Dialog.from_dict(loaded.dialogs["writer"][0])
        assert [m.content for m in dialog.messages] == ["You write.", "hi", "done"]
        record = store.load_session_record(sid)
        assert (record.session_id, record.tags, record.metadata) == (sid, {"team": "a"}, {"run": 1})
        assert record.timestamp == BASE_TIME and record.traceback is None

    def test_failure_sessions_keep_error_and_traceback(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        sid = store.save_session(make_session(state="failure"))
        record = store.load_session_record(sid)
        assert (
            record.session.error == "ValueError: boom"
            and record.traceback is not None
            and record.traceback.startswith("Traceback")
        )

    def test_basemodel_delivery_is_stored_as_a_dict_with_its_type(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        sid = store.save_session(make_session(delivery=Delivery(answer="42")))
        loaded = store.load_session(sid)
        assert loaded.delivery == {"answer": "42"}
        assert loaded.delivery_type == f"{Delivery.__module__}.{Delivery.__qualname__}"

    def test_absent_session_is_a_key_error_naming_the_partition(self, backend: LogBackend) -> None:
        store = LogStore(backend, partition="teamx")
        with pytest.raises(KeyError, match="teamx"):
            store.load_session("20240101_000000_deadbeef")
        with pytest.raises(ValueError, match="Invalid session id"):
            store.load_session("../escape")

    def test_tags_must_be_str_to_str(self, backend: LogBackend) -> None:
        store = LogStore(backend)
        for bad in ({"n": 1}, {1: "x"}, ["a"]):
            with pytest.raises(TypeError, match="tags"):
                store.save_session(make_session(), tags=bad)  # type: ignore[arg-type]

    def test_unserialisable_metadata_is_stored_as_str_with_a_warning(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        with pytest.warns(UserWarning, match="metadata"):
            sid = store.save_session(make_session(), metadata={"obj": Opaque(), "ok": [1, 2]})
        assert store.load_session_record(sid).metadata == {"obj": "<opaque>", "ok": [1, 2]}

    def test_partitions_are_isolated(self, backend: LogBackend) -> None:
        needs_storage(backend)
        a, b = LogStore(backend, partition="a"), LogStore(backend, partition="b")
        sid = a.save_session(make_session())
        assert [s.session_id for s in a.list_sessions()] == [sid] and b.list_sessions() == []
        with pytest.raises(KeyError, match="'b'"):
            b.load_session(sid)
        b.delete_session(sid)
        assert a.load_session(sid).tactic_name == "pair"

    def test_list_sessions_filters_sorts_newest_first_then_limits(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        saved = save_dataset(store)
        queries: List[Dict[str, Any]] = [
            {},
            {"limit": None},
            {"limit": 1},
            {"limit": 5},
            {"tags": {"team": "a"}},
            {"tags": {"team": "a", "run": "1"}},
            {"tags": {"team": "zz"}},
            {"tactic_path": "demo::alpha"},
            {"tactic_path": "demo::beta", "state": "failure"},
            {"state": "success", "tags": {"team": "b"}, "limit": 3},
            {"after": BASE_TIME + timedelta(minutes=10)},
            {"before": BASE_TIME + timedelta(minutes=10)},
            {"after": BASE_TIME + timedelta(minutes=5), "before": BASE_TIME + timedelta(minutes=9)},
            {"after": (BASE_TIME + timedelta(minutes=5)).replace(tzinfo=None)},  # naive means UTC
            {"after": "2024-05-01T12:05:00Z", "tactic_path": "demo::alpha", "tags": {"run": "0"}},
            {"after": BASE_TIME + timedelta(minutes=5), "before": BASE_TIME + timedelta(minutes=5)},
        ]
        for q in queries:
            got = [s.session_id for s in store.list_sessions(**q)]
            assert got == expected_ids(saved, **q), q

    def test_list_sessions_filters_and_sorts_by_cost_calls_model_and_task_text(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        saved = []
        for i in range(12):
            session = make_session(
                tactic_name=["alpha", "beta"][i % 2], started_at=BASE_TIME + timedelta(minutes=i // 2), cost=(i % 5) / 8
            )
            session.task = f"Task {i}: {['Kyoto 100%_off', 'tides'][i % 2]} " + "x" * 300
            for j in range(i % 3):  # extra calls by other models, so calls and models vary
                extra = session.agent_sessions["writer"][0].model_copy(update={"model": ["Claude-3", "gpt-4o"][j]})
                session.record_agent_call("critic", extra)
            sid = store.save_session(session)
            saved.append((sid, session.started_at, session.total_cost.cost, session.agent_call_count, session))
        (one,) = [s for s in store.list_sessions(limit=None) if s.session_id == saved[5][0]]
        assert one.models == ["Claude-3", "gpt-4o", "test"] and one.agent_call_count == 3
        assert one.task_preview == ("Task 5: tides " + "x" * 300)[:200]

        def expect(keep: Any, order: str = "newest", offset: int = 0, limit: Optional[int] = 100) -> List[str]:
            rows = sorted((r for r in saved if keep(r)), key=lambda r: (r[1], r[0]), reverse=order != "oldest")
            if order in ("cost", "calls"):
                rows.sort(key=lambda r: r[2] if order == "cost" else r[3], reverse=True)
            ids = [r[0] for r in rows][offset:]
            return ids if limit is None else ids[:limit]

        def models(r: Any) -> str:
            return " ".join(a.model for calls in r[4].agent_sessions.values() for a in calls).lower()

        cases: List[Any] = [
            ({"sort": "cost"}, lambda r: True, "cost", 0, 100),
            ({"sort": "calls", "limit": 4, "offset": 3}, lambda r: True, "calls", 3, 4),
            ({"sort": "oldest", "offset": 10, "limit": None}, lambda r: True, "oldest", 10, None),
            ({"tactic_name": "beta"}, lambda r: r[4].tactic_name == "beta", "newest", 0, 100),
            ({"min_cost": 0.25, "max_cost": 0.375, "sort": "cost"}, lambda r: 0.25 <= r[2] <= 0.375, "cost", 0, 100),
            ({"model": "CLAUDE"}, lambda r: "claude" in models(r), "newest", 0, 100),
            ({"model": "gpt", "sort": "calls"}, lambda r: "gpt" in models(r), "calls", 0, 100),
            ({"text": "kyoto 100%_"}, lambda r: "Kyoto" in r[4].task, "newest", 0, 100),
            ({"text": "100%x"}, lambda r: False, "newest", 0, 100),  # % and _ are literal
            ({"text": "xxxx" * 60}, lambda r: False, "newest", 0, 100),  # past the 200-character preview
            ({"text": "task 1", "model": "gpt", "tactic_name": "alpha"}, lambda r: False, "newest", 0, 100),
            (
                {"text": "task 1", "tactic_name": "beta", "sort": "cost"},
                lambda r: r[4].task.startswith("Task 1") and r[4].tactic_name == "beta",
                "cost",
                0,
                100,
            ),
        ]
        for query, keep, order, offset, limit in cases:
            assert [s.session_id for s in store.list_sessions(**query)] == expect(keep, order, offset, limit), query
        for bad in ({"sort": "size"}, {"offset": -1}, {"min_cost": "1"}):
            with pytest.raises(ValueError, match=next(iter(bad))):
                store.list_sessions(**bad)

    def test_list_sessions_returns_summaries_and_rejects_bad_limits(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        sid = store.save_session(make_session(cost=0.5), tags={"k": "v"})
        (summary,) = store.list_sessions()
        assert (summary.session_id, summary.tactic_name, summary.tactic_path, summary.state) == (
            sid,
            "pair",
            "demo::pair",
            "success",
        )
        assert summary.total_cost == 0.5 and summary.agent_call_count == 1 and summary.tags == {"k": "v"}
        assert summary.timestamp == BASE_TIME
        for bad in (0, -1):
            with pytest.raises(ValueError, match="limit"):
                store.list_sessions(limit=bad)

    def test_sessions_saved_in_the_same_second_get_distinct_ids(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        ids = {store.save_session(make_session()) for _ in range(20)}
        assert len(ids) == 20 and len(store.list_sessions(limit=None)) == 20

    def test_export_cost_summary_is_uncapped_and_rounded(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        for i in range(120):
            store.save_session(
                make_session(cost=0.1234567, started_at=BASE_TIME + timedelta(seconds=i)),
                tags={"team": "a" if i % 2 else "b"},
            )
        summary = store.export_cost_summary(tags={"team": "a"})
        assert summary["session_count"] == 60 and summary["total_cost_usd"] == round(60 * 0.1234567, 6)
        first = summary["sessions"][0]
        assert set(first) == {"session_id", "tactic_name", "state", "cost_usd", "spent_usd", "timestamp"}
        assert first["spent_usd"] == first["cost_usd"] and summary["spent_usd"] == summary["total_cost_usd"]
        assert first["timestamp"] > summary["sessions"][-1]["timestamp"]
        assert store.export_cost_summary()["session_count"] == 120

    def test_export_session_as_json(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        sid = store.save_session(make_session(), tags={"t": "1"})
        exported = json.loads(store.export_session(sid))
        assert exported["session_id"] == sid and exported["session"]["tactic_name"] == "pair"
        assert exported["schema_version"] == STORE_SCHEMA_VERSION and exported["tags"] == {"t": "1"}
        assert store.load_record(sid) == exported  # the stored record, as stored
        with pytest.raises(ValueError, match="csv"):
            store.export_session(sid, format="csv")

    def test_delete_is_idempotent_and_removes_from_listings(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        keep, gone = store.save_session(make_session()), store.save_session(make_session())
        store.delete_session(gone)
        store.delete_session(gone)
        assert [s.session_id for s in store.list_sessions()] == [keep]
        with pytest.raises(KeyError):
            store.load_session(gone)

    def test_secrets_are_redacted_before_writing(self, backend: LogBackend, monkeypatch: Any) -> None:
        needs_storage(backend)
        secret = "sk-conformance-0123456789"
        monkeypatch.setenv("OPENAI_API_KEY", secret)
        store = LogStore(backend)
        session = make_session()
        session.config = {
            "api_key": "sk-other-secret",
            "model_args": {"max_tokens": 5},
            "headers": {"Authorization": f"Bearer {secret}"},
        }
        session.task = f"use {secret}"
        sid = store.save_session(session, metadata={"token": "abc123", "note": secret})
        raw = b"".join(backend.get(k) or b"" for k in backend.list_keys())
        assert secret.encode() not in raw and b"sk-other-secret" not in raw and b"abc123" not in raw
        loaded = store.load_session(sid)
        assert loaded.config == {
            "api_key": "[REDACTED]",
            "model_args": {"max_tokens": 5},
            "headers": {"Authorization": "[REDACTED]"},
        }
        assert loaded.task == "use [REDACTED]"

    def test_save_error_keeps_the_traceback_of_the_exception(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        try:
            raise_here()
        except RuntimeError as e:
            eid = store.save_error(e, context={"step": 3})
        record = json.loads(backend.get(f"default/errors/{eid}") or b"{}")
        assert record["type"] == "RuntimeError" and record["message"] == "from a helper"
        assert "raise_here" in record["traceback"] and record["context"] == {"step": 3}

    def test_batch_tasks_are_recorded_per_batch_and_partition(self, backend: LogBackend) -> None:
        needs_storage(backend)
        a, b = LogStore(backend, partition="a"), LogStore(backend, partition="b")
        assert a.batch_task("nightly run/1", 0) is None
        a.record_batch_task("nightly run/1", 0, "20240501_120000_deadbeef", "0123abcd")
        note = a.batch_task("nightly run/1", 0)
        assert note is not None and (note["session_id"], note["task_md5"], note["index"], note["schema_version"]) == (
            "20240501_120000_deadbeef",
            "0123abcd",
            0,
            STORE_SCHEMA_VERSION,
        )
        assert a.batch_task("nightly run/1", 1) is None and a.batch_task("other", 0) is None
        assert b.batch_task("nightly run/1", 0) is None and a.list_sessions() == []  # not a session
        for bad in (-1, True, "0"):
            with pytest.raises(ValueError, match="batch task"):
                a.batch_task("x", bad)  # type: ignore[arg-type]

    def test_leases_are_per_partition(self, backend: LogBackend) -> None:
        needs_storage(backend)
        a, b = LogStore(backend, partition="a"), LogStore(backend, partition="b")
        assert a.acquire_lease("batch/x/0", "A", 30) and b.acquire_lease("batch/x/0", "B", 30)
        assert not a.acquire_lease("batch/x/0", "B", 30) and a.get_lease("batch/x/0").holder == "A"  # type: ignore
        a.release_lease("batch/x/0", "A")
        assert a.get_lease("batch/x/0") is None and b.get_lease("batch/x/0").holder == "B"  # type: ignore
        with pytest.raises(ValueError, match="lease name"):
            a.acquire_lease("../x", "A", 30)

    def test_newer_schema_versions_are_refused_clearly(self, backend: LogBackend) -> None:
        needs_storage(backend)
        store = LogStore(backend)
        sid = store.save_session(make_session())
        record = json.loads(backend.get(f"default/sessions/{sid}") or b"{}")
        record["schema_version"] = 999
        backend.put(f"default/sessions/{sid}", json.dumps(record).encode())
        with pytest.raises(ValueError, match="schema_version 999"):
            store.load_session(sid)


__all__ = ["LogBackendConformance", "LogStoreConformance", "make_session", "needs_storage", "BASE_TIME"]
