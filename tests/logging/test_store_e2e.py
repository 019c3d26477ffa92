"""End to end: a real two-agent tactic with a tool, on the offline "test" model, saved by a Tactic
(``ckpt_dir=`` and an SQLite store), then listed, loaded back and compared with the live session."""

from __future__ import annotations

import pytest
from support.report_pipeline import CONFIG, Pipeline, Report

from lllm import Dialog, Roles
from lllm.logging import LocalFileBackend, local_store, sqlite_store


def _assert_round_trip(store, live):
    (summary,) = store.list_sessions(tags={"run": "e2e"})
    assert summary.session_id == live.session_id and summary.state == "success"
    assert summary.tactic_name == "pipeline" and summary.agent_call_count == 2
    loaded = store.load_session(live.session_id)
    expected = live.model_dump(mode="json")
    expected["delivery_type"] = f"{Report.__module__}.{Report.__qualname__}"
    assert loaded.model_dump(mode="json") == expected  # everything, exactly

    # dialogs: both agents, rebuilt with their messages and prompt keys
    assert set(loaded.dialogs) == {"researcher", "writer"}
    with pytest.warns(RuntimeWarning, match="template-only"):  # its prompts are not in a runtime here
        dialog = Dialog.from_dict(loaded.dialogs["researcher"][0])
    roles = [m.role for m in dialog.messages]
    assert roles[:2] == [Roles.SYSTEM, Roles.USER] and Roles.TOOL in roles
    # invoke traces: the exact requests, several steps for the tool loop
    researcher = loaded.agent_sessions["researcher"][0]
    live_researcher = live.agent_sessions["researcher"][0]
    assert researcher.invoke_count == live_researcher.invoke_count >= 2
    for step, traces in live_researcher.invoke_traces.items():
        assert [t.request for t in researcher.invoke_traces[step]] == [t.request for t in traces]
        assert traces[0].request["messages"]
    # tool calls: arguments, results and durations
    (calls,) = researcher.interrupts.values()
    assert calls[0].name == "lookup_fact" and "has a long history." in calls[0].result_str
    assert calls[0].model_dump() == live_researcher.interrupts[0][0].model_dump()
    # costs and the structured delivery
    assert loaded.total_cost == live.total_cost and loaded.total_cost.prompt_tokens > 0
    assert Report.model_validate(loaded.delivery) == live.delivery
    assert loaded.config["global"]["model_args"] == {"max_tokens": 300}
    assert loaded.environment["python"] and loaded.ended_at >= loaded.started_at


def test_a_tactic_with_ckpt_dir_saves_to_local_files(tmp_path):
    tactic = Pipeline(CONFIG, ckpt_dir=str(tmp_path))
    assert isinstance(tactic.log_store.backend, LocalFileBackend)
    live = tactic("tea", tags={"run": "e2e"}, return_session=True)
    assert live.session_id and isinstance(live.delivery, Report)
    _assert_round_trip(local_store(tmp_path), live)
    assert (tmp_path / "default" / "sessions" / live.session_id).is_file()


def test_a_tactic_with_an_sqlite_store(tmp_path):
    store = sqlite_store(tmp_path / "sessions.db")
    live = Pipeline(CONFIG, log_store=store)("coffee", tags={"run": "e2e"}, return_session=True)
    _assert_round_trip(store, live)
    store.close()
    _assert_round_trip(sqlite_store(tmp_path / "sessions.db"), live)


def test_a_failed_run_is_saved_with_its_error(tmp_path):
    class Broken(Pipeline, register=False):
        name = "broken"

        def call(self, task):
            super().call(task)
            raise RuntimeError("after both agents ran")

    store = sqlite_store()
    with pytest.raises(RuntimeError, match="after both agents"):
        Broken(CONFIG, log_store=store)("tea", tags={"run": "e2e"})
    (summary,) = store.list_sessions(state="failure")
    record = store.load_session_record(summary.session_id)
    assert record.session.error == "RuntimeError: after both agents ran"
    assert "raise RuntimeError" in record.traceback and record.session.agent_call_count == 2
