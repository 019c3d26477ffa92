"""Sessions of a @tactic are recorded in a SQLite store and replayed offline with ``rerun`` (the server is
gone by then), forked with a changed system prompt, and replayed by ``lllm replay`` like any tactic's."""

from __future__ import annotations

import pytest
from shortpath_flow import BRIEF, SCRIPT, Brief, interactions, make_flow
from support.cassette_server import CassetteServer

from lllm import rerun, sqlite_store
from lllm.errors import LLLMError
from lllm.testing import TestInvoker


def record(tmp_path):
    store = sqlite_store(str(tmp_path / "sessions.db"))
    with CassetteServer(interactions(SCRIPT)) as server:
        f = make_flow(model="gpt-4o-mini", base_url=server.url + "/v1")
        f.brief.log_store = store
        session = f.brief("tide pools", return_session=True)
        server.assert_all_served()
    return f, store, session


def test_recorded_in_sqlite_and_replayed_offline(tmp_path):
    f, store, session = record(tmp_path)
    assert session.session_id and session.tactic_path == "brief"
    loaded = store.load_session(session.session_id)
    assert loaded.state == "success" and Brief.model_validate(loaded.delivery) == Brief(**BRIEF)
    assert sorted(loaded.dialogs) == ["planner", "researcher", "writer"] and len(loaded.dialogs["researcher"]) == 2
    searched = list(f.searched)
    again = rerun(loaded)  # the server is stopped: every model and tool call comes from the recording
    assert again.state == "success" and again.delivery == Brief(**BRIEF)
    assert again.metadata["replayed_calls"] == 6 and again.metadata["diverged_at"] is None
    assert f.searched == searched  # recorded tool results are replayed, the tool does not run again


def test_fork_with_a_changed_system_prompt(tmp_path):
    f, store, session = record(tmp_path)
    forked = rerun(
        store.load_session(session.session_id),
        invoker=TestInvoker(),
        overrides={"agent_configs.writer.system_prompt": "Write a one-line brief."},
    )
    at = forked.metadata["diverged_at"]
    assert at["agent"] == "writer" and "Write a one-line brief." in at["diff"]
    assert forked.metadata["replayed_calls"] == 5  # planner and researcher replayed, the writer ran again
    assert forked.delivery == Brief(title="test title", summary="test summary")


def test_a_changed_flow_diverges_loudly(tmp_path):
    f, store, session = record(tmp_path)
    f.writer.system_prompt = type(f.writer.system_prompt)(path="_inline/writer/system", prompt="Changed.")
    with pytest.raises(LLLMError, match="Replay diverged at agent 'writer'"):
        rerun(store.load_session(session.session_id))
