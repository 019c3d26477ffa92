"""Compatibility: sessions written by store schema version 1 (checked-in fixtures) still load."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lllm import Dialog, Roles
from lllm.logging import STORE_SCHEMA_VERSION, SQLiteBackend, LogStore, local_store

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1"
SUCCESS, FAILURE = "20261126_073013_a0b60c6d", "20261126_073013_75f15526"


@pytest.fixture
def v1_store(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "store")  # never write into the fixture
    return local_store(tmp_path / "store")


def test_the_fixture_is_version_1_and_this_library_reads_it():
    assert STORE_SCHEMA_VERSION >= 1
    for kind in ("sessions", "index"):
        for path in (FIXTURE / "default" / kind).iterdir():
            assert json.loads(path.read_bytes())["schema_version"] == 1


def test_version_1_sessions_list_and_load(v1_store):
    assert [s.session_id for s in v1_store.list_sessions(tags={"run": "fixture"})] == [FAILURE, SUCCESS]
    record = v1_store.load_session_record(SUCCESS)
    session = record.session
    assert record.metadata == {"note": "written by store schema version 1"} and record.traceback is None
    assert session.state == "success" and session.tactic_name == "pipeline" and session.schema_version == 1
    assert session.delivery_type == "test_store_e2e.Report" and set(session.delivery) == {"title", "points"}
    assert session.agent_call_count == 2 and session.total_cost.prompt_tokens > 0
    researcher = session.agent_sessions["researcher"][0]
    (calls,) = researcher.interrupts.values()
    assert calls[0].name == "lookup_fact" and calls[0].arguments and "long history" in calls[0].result_str
    assert all(t.request["messages"] for ts in researcher.invoke_traces.values() for t in ts)
    with pytest.warns(RuntimeWarning):  # the fixture's prompts are not registered here
        dialog = Dialog.from_dict(session.dialogs["researcher"][0])
    assert dialog.messages[0].role == Roles.SYSTEM and any(m.role == Roles.TOOL for m in dialog.messages)


def test_version_1_failures_keep_their_error(v1_store):
    record = v1_store.load_session_record(FAILURE)
    assert record.session.state == "failure" and record.session.error == "RuntimeError: after both agents ran"
    assert record.traceback.startswith("Traceback") and "in call" in record.traceback
    assert v1_store.list_sessions(state="failure")[0].session_id == FAILURE


def test_version_1_records_load_from_any_backend():
    store = LogStore(SQLiteBackend(":memory:"))
    store.backend.put(f"default/sessions/{SUCCESS}", (FIXTURE / "default" / "sessions" / SUCCESS).read_bytes())
    assert store.load_session(SUCCESS).tactic_name == "pipeline"
    assert json.loads(store.export_session(SUCCESS))["session_id"] == SUCCESS
