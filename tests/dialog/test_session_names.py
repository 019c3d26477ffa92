"""Dialog session names: given, or ``YYYYMMDD_HHMMSS_<6hex>`` of the creation time, made when first read;
children share their parent's. Dialog ids are UUID4 hex."""

from __future__ import annotations

import re
import time
import uuid

from lllm import Dialog
from lllm.core.dialog import local_stamp, new_id

NAME = re.compile(r"^\d{8}_\d{6}_[0-9a-f]{6}$")


def test_a_generated_name_keeps_the_creation_time_and_is_stable():
    d = Dialog()
    created = time.time()
    time.sleep(1.1)
    name = d.session_name
    assert NAME.match(name) and name == d.session_name
    assert name[:15] == local_stamp(created) != local_stamp()


def test_children_share_the_parent_name_even_when_it_is_made_later():
    root = Dialog()
    root.put_text("hi")
    work = root.working_copy()
    fork = root.fork()
    assert work.session_name == root.session_name == fork.session_name
    other = Dialog()
    assert other.session_name != root.session_name


def test_a_given_name_survives_serialisation_and_can_be_set():
    d = Dialog(session_name="mine")
    assert d.session_name == "mine" and d.working_copy().session_name == "mine"
    assert Dialog.from_dict(d.to_dict()).session_name == "mine"
    d.session_name = "renamed"
    assert d.to_dict()["session_name"] == "renamed"


def test_new_ids_are_uuid4():
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200
    for i in list(ids)[:50]:
        u = uuid.UUID(hex=i)
        assert u.version == 4 and u.variant == uuid.RFC_4122 and u.hex == i
