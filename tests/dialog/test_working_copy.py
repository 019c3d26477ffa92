"""Dialog.working_copy: the call loop's per-step copy joins the fork tree only when something needs its id."""

from lllm.core.const import Roles
from lllm.core.dialog import Dialog
from lllm.core.message import Message


def make(n: int, owner: str = "alice") -> Dialog:
    d = Dialog(session_name="s", owner=owner)
    for i in range(n):
        d.append(Message(role=Roles.USER, content=f"m{i}", name="user"))
    return d


def test_a_working_copy_only_sent_stays_out_of_the_tree():
    d = make(2)
    d.top_prompt = prompt = object()
    work = d.working_copy()
    assert all(a is b for a, b in zip(d.messages, work.messages)) and len(work) == 2
    assert work.parent is d and work.owner == "alice" and work.session_name == "s" and work.top_prompt is prompt
    assert d.children == [] and d.tree_node.children_ids == [] and work._node is None
    assert d.to_dict()["tree_node"]["children_ids"] == []


def test_appending_to_a_working_copy_links_it_like_a_shallow_fork():
    d = make(2)
    work = d.working_copy()
    extra = work.append(Message(role=Roles.USER, content="retry", name="user"))
    assert extra.metadata["dialog_id"] == work.dialog_id != d.dialog_id
    assert d.children == [work] and d.tree_node.children_ids == [work.dialog_id]
    node = work.tree_node
    assert (node.parent_id, node.owner, node.split_point, node.last_n, node.first_k) == (d.dialog_id, "alice", 2, 0, 1)
    assert len(d) == 2 and len(work) == 3  # the canonical dialog never sees it
    assert work.tree_node is node and d.children == [work]  # linked once


def test_reading_a_working_copys_id_links_it_and_forks_of_it_link_below():
    d = make(3)
    work = d.working_copy()
    pruned = work.derive(list(work.messages)[-1:], last_n=1)
    assert pruned.parent is work and work.parent is d and d.children == [work] and work.children == [pruned]
    assert pruned.tree_node.parent_id == work.dialog_id and work.depth == 1 and pruned.depth == 2


def test_listeners_are_called_and_can_remove_themselves_while_notified():
    d = make(0)
    seen = []

    def once(dialog, message):
        seen.append(("once", message.content))
        dialog.remove_listener(once)

    d.add_listener(once)
    d.add_listener(lambda dialog, message: seen.append(("always", message.content)))
    d.append(Message(role=Roles.USER, content="a", name="user"))
    d.append(Message(role=Roles.USER, content="b", name="user"))
    assert seen == [("once", "a"), ("always", "a"), ("always", "b")]
    d.remove_listener(once)  # not registered any more: silent
    assert d.messages is d.messages and list(d.messages) == list(d)
