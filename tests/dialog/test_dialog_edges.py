"""Dialog edge cases: a copied message appended elsewhere leaves the original's history untouched."""

from __future__ import annotations

import pytest

from lllm import Tactic
from lllm.core.dialog import Dialog
from lllm.logging import LogStore
from lllm.logging.backends import LocalFileBackend


def test_appending_a_copy_of_a_message_keeps_the_originals_dialog_id():
    """``Dialog.append`` stamped ``metadata["dialog_id"]`` into the dict a ``model_copy`` shares with the
    original, so the original message (in an immutable history) claimed to belong to the other dialog."""
    first, second = Dialog(owner="writer"), Dialog(owner="reviewer")
    original = first.put_text("draft one")
    edited = second.append(original.model_copy(update={"content": "draft two"}))
    plain = Dialog(owner="third").append(first.tail.model_copy())
    assert first.tail.metadata["dialog_id"] == first.dialog_id
    assert edited.metadata["dialog_id"] == second.dialog_id and plain.metadata["dialog_id"] != first.dialog_id
    assert Dialog.from_dict(first.to_dict()).tail.metadata["dialog_id"] == first.dialog_id


class Customer:
    """Not JSON: what a web handler might pass as ``respond(metadata=...)``."""

    def __str__(self) -> str:
        return "customer ann"


def test_respond_metadata_that_json_cannot_hold_no_longer_fails_the_finished_call(tmp_path):
    """``respond(metadata=...)`` is attached to the new messages; one value JSON cannot hold made recording the
    dialogs raise PydanticSerializationError after the call had succeeded: the caller got that error instead
    of the result, and the session was not saved."""
    config = {"global": {"model_name": "test"}, "agent_configs": [{"name": "echo", "system_prompt": "Echo."}]}

    class Desk(Tactic, register=False):
        name = "s7_desk"
        agent_group = ["echo"]

        def call(self, task: str) -> str:
            agent = self.agents["echo"]
            agent.open("d")
            agent.receive(task)
            return agent.respond(metadata={"customer": Customer()}).content

    store = LogStore(LocalFileBackend(tmp_path))
    with pytest.warns(UserWarning, match="Customer"):
        assert Desk(config, log_store=store)("hi") == "Test answer to: hi"
    (summary,) = store.list_sessions()
    saved = store.load_session(summary.session_id)
    assert (
        saved.state == "success" and saved.dialogs["echo"][0]["messages"][-1]["metadata"]["customer"] == "customer ann"
    )
