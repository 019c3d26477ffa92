import json

import pytest

from lllm.core.const import Roles
from lllm.core.dialog import Dialog, DialogTreeNode, Message


def make(n, owner="agent"):
    d = Dialog(owner=owner, session_name="sess")
    for i in range(n):
        d.append(
            Message(
                role=Roles.SYSTEM if i == 0 else Roles.USER,
                content=f"m{i}",
                name="x",
                metadata={"i": i, "nested": {"v": [i]}},
            )
        )
    return d


def contents(d):
    return [m.content for m in d.messages]


@pytest.mark.parametrize(
    "last_n, first_k, expected",
    [
        (0, 1, ["m0", "m1", "m2", "m3", "m4"]),
        (0, 0, ["m0", "m1", "m2", "m3", "m4"]),
        (2, 1, ["m0", "m3", "m4"]),
        (2, 0, ["m3", "m4"]),
        (2, 2, ["m0", "m1", "m3", "m4"]),
        (2, 3, ["m0", "m1", "m2", "m3", "m4"]),
        (2, 10, ["m0", "m1", "m2", "m3", "m4"]),
        (1, 2, ["m0", "m1", "m4"]),
        (4, 1, ["m0", "m1", "m2", "m3", "m4"]),
        (4, 0, ["m1", "m2", "m3", "m4"]),
        (5, 1, ["m0", "m1", "m2", "m3", "m4"]),
        (99, 0, ["m0", "m1", "m2", "m3", "m4"]),
    ],
)
def test_fork_arithmetic(last_n, first_k, expected):
    d = make(5)
    child = d.fork(last_n=last_n, first_k=first_k)
    assert contents(child) == expected
    node = child.tree_node
    assert (node.split_point, node.last_n, node.first_k) == (len(expected), last_n, first_k)
    assert contents(d) == ["m0", "m1", "m2", "m3", "m4"]
    shallow = d.fork(last_n=last_n, first_k=first_k, share_messages=True)
    assert contents(shallow) == expected


def test_fork_of_empty_dialog():
    d = Dialog()
    assert len(d.fork()) == 0 and len(d.fork(last_n=3, first_k=2)) == 0


@pytest.mark.parametrize("kw", [{"last_n": -1}, {"first_k": -1}, {"last_n": -2, "first_k": -3}])
def test_fork_negative_raises(kw):
    d = make(3)
    args = {"last_n": 0, "first_k": 1, **kw}
    with pytest.raises(ValueError) as ei:
        d.fork(**kw)
    assert str(ei.value) == (
        f"fork() needs non-negative last_n and first_k, got last_n={args['last_n']}, first_k={args['first_k']}"
    )
    with pytest.raises(ValueError):
        d.fork(**kw, share_messages=True)
    assert d.children == []


def test_fork_deep_copies_messages():
    d = make(3)
    child = d.fork()
    for a, b in zip(d.messages, child.messages):
        assert a == b and a is not b
        assert a.metadata is not b.metadata and a.metadata["nested"] is not b.metadata["nested"]
    child.messages[1].metadata["nested"]["v"].append("changed")
    assert d.messages[1].metadata["nested"]["v"] == [1]
    # copies keep the dialog_id they were appended under
    assert child.messages[0].metadata["dialog_id"] == d.dialog_id


def test_fork_shallow_shares_messages_but_not_the_list():
    d = make(3)
    work = d.fork(share_messages=True)
    assert all(a is b for a, b in zip(d.messages, work.messages))
    work.append(Message(role=Roles.USER, content="only in work", name="x"))
    assert len(d) == 3 and len(work) == 4
    d.append(Message(role=Roles.USER, content="only in d", name="x"))
    assert len(work) == 4 and work.tail.content == "only in work"
    assert work.parent is d and work in d.children


def test_fork_links_and_inherits():
    runtime, prompt = object(), object()
    d = make(3, owner="alice")
    d.runtime, d.top_prompt = runtime, prompt
    c = d.fork(last_n=1)
    assert c.parent is d and d.children == [c] and d.children is not d._children
    assert c.tree_node.parent_id == d.dialog_id and d.tree_node.children_ids == [c.dialog_id]
    assert c.tree_node.parent is d.tree_node and d.tree_node.children == [c.tree_node]
    assert not c.is_root and d.is_root and c.depth == 1 and c.fork().depth == 2
    assert (c.session_name, c.owner, c.runtime, c.top_prompt) == ("sess", "alice", runtime, prompt)
    assert c.dialog_id != d.dialog_id
    c.append(Message(role=Roles.USER, content="x", name="x"))
    assert c.tail.metadata["dialog_id"] == c.dialog_id


def test_tree_node_basics_and_round_trip():
    root = DialogTreeNode(owner="o")
    a, b = DialogTreeNode(owner="o", split_point=2, last_n=1, first_k=1), DialogTreeNode(owner="o")
    c = DialogTreeNode(owner="o", split_point=5)
    root.add_child(a)
    root.add_child(b)
    a.add_child(c)
    root.add_child(a)  # re-adding is a no-op
    assert root.children_ids == [a.dialog_id, b.dialog_id]
    assert root.subtree_ids() == [root.dialog_id, a.dialog_id, b.dialog_id, c.dialog_id]
    assert a.subtree_ids() == [a.dialog_id, c.dialog_id]
    assert (root.depth, a.depth, c.depth) == (0, 1, 2) and root.is_root and not c.is_root
    restored = [DialogTreeNode.from_dict(json.loads(json.dumps(n.to_dict()))) for n in (c, b, root, a)]
    assert [r.to_dict() for r in restored] == [n.to_dict() for n in (c, b, root, a)]
    assert restored[0] == c  # live links are not compared
    roots = DialogTreeNode.link(restored)
    assert roots == [restored[2]]
    assert restored[2].subtree_ids() == root.subtree_ids()
    assert restored[0].depth == 2
    assert set(DialogTreeNode().to_dict()) == {
        "dialog_id",
        "owner",
        "parent_id",
        "split_point",
        "last_n",
        "first_k",
        "children_ids",
    }


def _tree():
    root = make(4, owner="bob")
    c1 = root.fork()
    c1.append(Message(role=Roles.ASSISTANT, content="answer", name="bob", usage={"prompt_tokens": 3}))
    g1 = c1.fork(last_n=1, first_k=1)
    g2 = c1.fork(last_n=2, first_k=0)
    c2 = root.fork(last_n=2)
    return [root, c1, c2, g1, g2]


def test_to_dict_shape_and_json_safety():
    d = _tree()[1]
    data = d.to_dict()
    assert set(data) == {
        "schema_version",
        "messages",
        "session_name",
        "owner",
        "tree_node",
        "top_prompt_path",
        "top_prompt_snapshot",
    }
    assert data["schema_version"] == 1 and data["owner"] == "bob" and data["session_name"] == "sess"
    assert data["top_prompt_path"] is None and data["top_prompt_snapshot"] is None
    assert json.loads(json.dumps(data)) == data


def test_nested_tree_serialisation_round_trip():
    dialogs = _tree()
    root = dialogs[0]
    records = [json.loads(json.dumps(d.to_dict())) for d in dialogs]
    restored = [Dialog.from_dict(r) for r in reversed(records)][::-1]
    for old, new in zip(dialogs, restored):
        assert new.dialog_id == old.dialog_id
        assert list(new.messages) == list(old.messages)
        assert [m.metadata["dialog_id"] for m in new.messages] == [m.metadata["dialog_id"] for m in old.messages]
        assert new.tree_node == old.tree_node
        assert new.to_dict() == old.to_dict()
        assert new.parent is None and new.children == []  # links are restored by Dialog.link
    roots = Dialog.link(restored)
    assert roots == [restored[0]]
    r_root, r_c1, r_c2, r_g1, r_g2 = restored
    assert r_root.children == [r_c1, r_c2] and r_c1.children == [r_g1, r_g2]
    assert r_g2.parent is r_c1 and r_g2.depth == 2 and r_c2.depth == 1
    assert (
        r_root.tree_node.subtree_ids()
        == root.tree_node.subtree_ids()
        == [root.dialog_id, dialogs[1].dialog_id, dialogs[2].dialog_id, dialogs[3].dialog_id, dialogs[4].dialog_id]
    )
    assert r_root.tree_overview() == root.tree_overview()
    assert Dialog.link(restored) == [r_root] and r_root.children == [r_c1, r_c2]  # idempotent


def test_tree_overview_lists_every_fork():
    root = _tree()[0]
    lines = root.tree_overview().splitlines()
    assert len(lines) == 5
    assert lines[0].startswith(f"[{root.dialog_id[:8]}] owner=bob msgs=4")
    assert lines[1].startswith("  └─ ") and lines[2].startswith("    └─ ")
    assert "(last_n=1, first_k=1)" in lines[2]


def test_from_dict_rejects_newer_schema():
    data = make(1).to_dict()
    data["schema_version"] = 2
    with pytest.raises(ValueError, match="schema_version 2 is newer"):
        Dialog.from_dict(data)


def test_from_dict_accepts_legacy_record_without_version():
    data = make(2).to_dict()
    del data["schema_version"], data["top_prompt_snapshot"]
    d = Dialog.from_dict(data)
    assert len(d) == 2 and d.owner == "agent"


def test_deep_copy_of_models_keeps_type_fields_set_and_private_state():
    """The fork's copier uses pydantic's public API: plain models are rebuilt with ``model_construct``
    (type and fields-set kept), models with private or extra state go through ``model_copy(deep=True)``."""
    from pydantic import BaseModel, ConfigDict, PrivateAttr

    from lllm.core.dialog_tree import deep_copy

    class Plain(BaseModel):
        tags: list = []
        note: str = "n"

    class WithPrivate(BaseModel):
        items: list = []
        _secret: list = PrivateAttr(default_factory=list)

    class WithExtra(BaseModel):
        model_config = ConfigDict(extra="allow")

    p = Plain(tags=[[1]])
    q = deep_copy(p)
    assert type(q) is Plain and q == p and q.model_fields_set == {"tags"} and q.tags[0] is not p.tags[0]
    w = WithPrivate(items=[1])
    w._secret.append("s")
    w2 = deep_copy(w)
    assert w2._secret == ["s"] and w2._secret is not w._secret and w2.items == [1]
    e = WithExtra(more={"k": [1]})
    e2 = deep_copy(e)
    assert e2.model_extra == {"more": {"k": [1]}} and e2.model_extra["more"] is not e.model_extra["more"]
