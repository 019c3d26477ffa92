"""Messages a dialog holds are frozen: their fields-set is shared (memory), copies get their own."""

from __future__ import annotations

import copy

import pytest

from lllm import Dialog, Message
from lllm.core.message import FrozenMessageError


def test_frozen_messages_share_one_fields_set_and_dump_as_before():
    d = Dialog()
    a, b = d.put_text("one"), d.put_text("two")
    assert a.model_fields_set is b.model_fields_set
    assert {"role", "content", "name"} <= a.model_fields_set
    assert a.model_dump(exclude_unset=True).keys() == a.model_fields_set
    with pytest.raises(FrozenMessageError):
        a.content = "changed"


def test_copies_of_a_frozen_message_are_editable_and_track_their_own_fields():
    m = Dialog().put_text("one")
    edited = m.model_copy(update={"model": "m1"})
    assert type(edited) is Message and edited.model == "m1" and "model" in edited.model_fields_set
    assert "model" not in m.model_fields_set
    edited.content = "two"  # a plain message again
    for c in (copy.copy(m), copy.deepcopy(m)):
        assert type(c.model_fields_set) is set and c.model_fields_set == m.model_fields_set
    deep = m.model_copy(update={"name": "bob"}, deep=True)
    assert deep.name == "bob" and "name" in deep.model_fields_set and m.name == "user"


def test_forked_dialogs_keep_equal_messages():
    d = Dialog()
    d.put_text("one")
    child = d.fork()
    assert child.messages[0] == d.messages[0] and child.messages[0] is not d.messages[0]
    assert child.messages[0].model_fields_set == d.messages[0].model_fields_set
