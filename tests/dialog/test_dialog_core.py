import re
from collections.abc import Sequence

import pytest

from lllm.core.const import Modalities, Roles
from lllm.core.dialog import Dialog, FunctionCall, InvokeCost, Message, MessageSequence


def msg(text, role=Roles.USER, **kw):
    return Message(role=role, content=text, name=kw.pop("name", role.value), **kw)


def test_compat_reexports():
    from lllm.core import dialog, message

    assert dialog.Message is message.Message
    assert dialog.FunctionCall is message.FunctionCall
    assert dialog.InvokeCost is message.InvokeCost
    assert dialog.Roles is Roles


def test_message_round_trip_full():
    m = Message(
        role=Roles.TOOL_CALL,
        content="thinking",
        name="agent",
        modality=Modalities.FUNCTION_CALL,
        function_calls=[
            FunctionCall(id="c1", name="f", arguments={"x": [1, {"y": None}]}, result_str="ok", duration_s=0.5)
        ],
        logprobs=[{"token": "a", "logprob": -0.1, "top_logprobs": [{"token": "b", "logprob": -2.0}]}],
        parsed={"raw": "thinking", "xml_tags": {"a": ["1"]}},
        model="gpt-x",
        usage={"prompt_tokens": 3, "completion_tokens": 2, "response_cost": 0.01},
        metadata={"k": [1, 2]},
        vectors=[0.1, 0.2],
    )
    assert Message.from_dict(m.to_dict()) == m


def test_construction_defaults():
    d = Dialog()
    assert re.fullmatch(r"\d{8}_\d{6}_[0-9a-f]{6}", d.session_name)
    assert re.fullmatch(r"[0-9a-f]{32}", d.dialog_id)
    assert d.head is None and d.tail is None and len(d) == 0 and list(d) == []
    assert d.is_root and d.depth == 0 and d.parent is None and d.children == []
    assert d.owner is None and d.runtime is None and d.top_prompt is None
    assert d.cost == InvokeCost()
    assert Dialog().session_name != d.session_name or Dialog().dialog_id != d.dialog_id


def test_constructor_arguments_are_kept():
    m = msg("hi")
    d = Dialog([m], session_name="s1", owner="alice")
    assert d.session_name == "s1" and d.owner == "alice" and d.tree_node.owner == "alice"
    assert d.head is m and d.tail is m
    assert "dialog_id" not in m.metadata  # only append stamps


def test_append_stamps_and_returns():
    d = Dialog(owner="a")
    m = msg("hello")
    assert d.append(m) is m
    assert m.metadata["dialog_id"] == d.dialog_id
    assert d.head is m and d.tail is m and d[0] is m and d.messages[-1] is m


def test_append_rejects_non_messages():
    with pytest.raises(TypeError, match="Dialog.append\\(\\) needs a Message, got dict"):
        Dialog().append({"role": "user"})


def test_messages_is_read_only_live_view():
    d = Dialog()
    view = d.messages
    assert isinstance(view, Sequence) and isinstance(view, MessageSequence)
    assert not isinstance(view, list)
    d.append(msg("a"))
    assert len(view) == 1  # live
    with pytest.raises(AttributeError):
        view.append(msg("b"))
    with pytest.raises(TypeError):
        view[0] = msg("b")
    with pytest.raises(TypeError):
        del view[0]
    sliced = view[:]
    sliced.append(msg("c"))
    assert len(d) == 1
    joined = view + [msg("d")]
    assert len(joined) == 2 and len(d) == 1
    assert view == [d.head] and view == (d.head,)
    assert d.messages is d.messages


def test_listeners_called_in_order_and_removable():
    d = Dialog()
    seen = []
    f1 = d.add_listener(lambda dlg, m: seen.append(("f1", dlg is d, m.content)))

    @d.add_listener
    def f2(dlg, m):
        seen.append(("f2", dlg is d, m.content))

    d.append(msg("x"))
    d.remove_listener(f1)
    d.remove_listener(f1)  # silent
    d.append(msg("y"))
    assert seen == [("f1", True, "x"), ("f2", True, "x"), ("f2", True, "y")]


def test_listener_errors_are_logged_not_raised(caplog):
    d = Dialog()

    def boom(dlg, m):
        raise RuntimeError("listener broke")

    later = []
    d.add_listener(boom)
    d.add_listener(lambda dlg, m: later.append(m))
    with caplog.at_level("ERROR", logger="lllm.agent"):
        d.append(msg("x"))
    assert len(d) == 1 and len(later) == 1
    assert "listener" in caplog.text and "listener broke" in caplog.text


def test_add_listener_requires_callable():
    with pytest.raises(TypeError, match="add_listener\\(\\) needs a callable, got int"):
        Dialog().add_listener(3)


def test_listeners_are_not_inherited_by_forks():
    d = Dialog()
    seen = []
    d.add_listener(lambda dlg, m: seen.append(m))
    child = d.fork()
    child.append(msg("x"))
    assert seen == []


def test_cost_sums_message_costs():
    d = Dialog()
    d.append(msg("a", role=Roles.ASSISTANT, usage={"prompt_tokens": 10, "completion_tokens": 5, "response_cost": 0.5}))
    d.append(msg("b"))
    d.append(msg("c", role=Roles.ASSISTANT, usage={"prompt_tokens": 1, "completion_tokens": 1, "response_cost": 0.25}))
    c = d.cost
    assert (c.prompt_tokens, c.completion_tokens, c.total_tokens, c.cost) == (11, 6, 17, 0.75)


def test_iteration_len_getitem():
    d = Dialog()
    ms = [d.append(msg(str(i))) for i in range(3)]
    assert list(d) == ms and len(d) == 3 and d[1] is ms[1] and d[-1] is ms[2]


def test_overview_previews_and_remove_tail():
    d = Dialog(owner="a")
    d.append(msg("system text", role=Roles.SYSTEM, name="system"))
    d.append(msg("x" * 30))
    d.append(
        Message(
            role=Roles.TOOL_CALL,
            content="",
            name="a",
            function_calls=[FunctionCall(id="1", name="f", arguments={"q": 1})],
        )
    )
    text = d.overview(max_length=10)
    assert text.split("\n\n") == [
        "[0. system (system)]: system tex...",
        "[1. user (user)]: xxxxxxxxxx...",
        '[2. a (tool_call)]: f({"q": 1}...',
    ]
    assert d.overview(remove_tail=True).count("\n\n") == 1


def test_repr_mentions_owner_and_size():
    d = Dialog(owner="bob")
    d.append(msg("x"))
    assert "bob" in repr(d) and "messages=1" in repr(d)
