"""Dialog edge cases: a copied message appended elsewhere leaves the original's history untouched."""

from __future__ import annotations

from lllm.core.dialog import Dialog


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
