import base64
import logging

import pytest

import lllm.core.context as ctx
from lllm.core.const import Modalities, Roles
from lllm.core.context import (
    TRUNCATION_MARKER,
    ContextManager,
    DefaultContextManager,
    build_context_manager,
    register_context_manager,
)
from lllm.core.dialog import Dialog
from lllm.core.message import FunctionCall, Message
from lllm.core.tokens import REPLY_PRIMING, estimate_message_tokens as tok, estimate_messages_tokens
from lllm.errors import ConfigError, ResourceNotFoundError
from lllm.packages.runtime import Runtime

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def text(content, role=Roles.USER, **kw):
    return Message(role=role, content=content, name=kw.pop("name", "u"), **kw)


def call(*ids):
    return Message(
        role=Roles.TOOL_CALL,
        content="",
        name="agent",
        modality=Modalities.FUNCTION_CALL,
        function_calls=[FunctionCall(id=i, name="f", arguments={"q": i}) for i in ids],
    )


def result(call_id, content="result", **kw):
    meta = {"tool_call_id": call_id} if call_id else {}
    return Message(role=Roles.TOOL, content=content, name="f", metadata=meta, **kw)


def image():
    return Message(
        role=Roles.USER,
        content=PNG,
        name="u",
        modality=Modalities.IMAGE,
        metadata={"caption": None, "mime_type": "image/png"},
    )


def dialog(*msgs):
    d = Dialog(owner="agent", session_name="s")
    for m in msgs:
        d.append(m)
    return d


def cm_for_limit(limit):
    """A manager whose limit is exactly ``limit`` (window = limit * 4 / 3 for small windows)."""
    for window in range(limit, limit * 2 + 8):
        if window - min(5000, window // 4) == limit:
            return DefaultContextManager("m", max_tokens=window)
    raise AssertionError(limit)


def test_cm_for_limit_helper():
    assert cm_for_limit(300).limit == 300 and cm_for_limit(7).limit == 7


# -- window and limit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "window, limit", [(100_000, 95_000), (20_000, 15_000), (8000, 6000), (400, 300), (10, 8), (1, 1)]
)
def test_limit_formula(window, limit):
    assert DefaultContextManager("m", max_tokens=window).limit == limit


def test_window_prefers_max_tokens_then_lookup_then_fallback(caplog):
    calls = []

    def lookup(model):
        calls.append(model)
        return 128_000

    assert DefaultContextManager("m", 1000, window_lookup=lookup).window == 1000 and calls == []
    cm = DefaultContextManager("gpt-x", window_lookup=lookup)
    assert cm.window == 128_000 and cm.window == 128_000 and calls == ["gpt-x"]
    with caplog.at_level(logging.WARNING, logger="lllm.agent"):
        assert DefaultContextManager("mystery", window_lookup=lambda m: None).window == 4096
        assert DefaultContextManager("mystery2").window == 4096
    assert (
        "Context window of model 'mystery' is unknown; assuming 4096 tokens. "
        "Set context_manager.max_tokens to override."
    ) in caplog.text
    assert "mystery2" in caplog.text


def test_window_lookup_failure_falls_back(caplog):
    def boom(model):
        raise RuntimeError("no catalogue")

    with caplog.at_level(logging.WARNING, logger="lllm.agent"):
        assert DefaultContextManager("m", window_lookup=boom).window == 4096
    assert "Context window lookup for model 'm' failed: no catalogue" in caplog.text


@pytest.mark.parametrize("bad", [0, -5, "big", True, 1.5])
def test_bad_max_tokens(bad):
    with pytest.raises(ConfigError) as ei:
        DefaultContextManager("m", max_tokens=bad)
    assert str(ei.value) == f"context_manager.max_tokens must be a positive integer, got {bad!r}"


# -- behaviour ----------------------------------------------------------------------------------


def test_fitting_dialog_is_returned_as_is():
    d = dialog(text("sys", Roles.SYSTEM), text("hi"), text("there", Roles.ASSISTANT))
    cm = cm_for_limit(estimate_messages_tokens(d.messages))
    assert cm(d) is d and d.children == []
    assert cm_for_limit(300)(Dialog()) is not None


def test_is_a_context_manager():
    assert issubclass(DefaultContextManager, ContextManager) and DefaultContextManager.name == "default"
    with pytest.raises(TypeError):
        ContextManager()


def test_keeps_head_and_whole_tail_messages_without_border():
    msgs = [text("S" * 40, Roles.SYSTEM)] + [text(f"{i}" * 400) for i in range(6)]
    d = dialog(*msgs)
    per = tok(msgs[1])
    # room for the head and exactly three tail messages, plus 50 spare tokens (not more than 50)
    limit = REPLY_PRIMING + tok(msgs[0]) + 3 * per + 50
    out = cm_for_limit(limit)(d)
    assert [m.content for m in out.messages] == [msgs[0].content] + [m.content for m in msgs[4:]]
    assert all(a is b for a, b in zip(out.messages[1:], msgs[4:]))
    assert estimate_messages_tokens(out.messages) <= limit


def test_border_message_keeps_the_end_of_its_text():
    long = "BEGIN " + "x" * 2000 + " THE END"
    msgs = [
        text("system prompt", Roles.SYSTEM),
        text("old question"),
        text(long, Roles.ASSISTANT),
        text("latest question"),
    ]
    d = dialog(*msgs)
    before = [m.model_dump() for m in d.messages]
    limit = 300
    out = cm_for_limit(limit)(d)
    assert [m.content for m in out.messages][0] == "system prompt"
    assert [m.content for m in out.messages][-1] == "latest question"
    assert len(out) == 3
    border = out.messages[1]
    assert border.content.startswith(TRUNCATION_MARKER) and border.content.endswith(" THE END")
    assert "BEGIN" not in border.content
    assert border.metadata["context_truncated"] is True and border.role == Roles.ASSISTANT
    assert estimate_messages_tokens(out.messages) <= limit
    assert limit - estimate_messages_tokens(out.messages) < 10  # the budget is used, not wasted
    # the canonical dialog is untouched; the result is a linked child fork
    assert [m.model_dump() for m in d.messages] == before and "context_truncated" not in d.messages[2].metadata
    assert out.parent is d and d.children == [out] and out.session_name == "s" and out.owner == "agent"
    assert (out.tree_node.split_point, out.tree_node.last_n, out.tree_node.first_k) == (3, 2, 1)


def test_border_needs_more_than_50_tokens():
    msgs = [text("sys", Roles.SYSTEM), text("y" * 2000), text("z" * 100)]
    d = dialog(*msgs)
    base = REPLY_PRIMING + tok(msgs[0]) + tok(msgs[2])
    out = cm_for_limit(base + 50)(d)
    assert [m.content for m in out.messages] == ["sys", "z" * 100]
    out = cm_for_limit(base + 51)(d)
    assert len(out) == 3 and out.messages[1].content.startswith(TRUNCATION_MARKER)


def test_walk_stops_at_the_border():
    # a small old message that would fit must not be kept once a newer one was cut or dropped
    msgs = [text("sys", Roles.SYSTEM), text("tiny"), image(), text("q" * 40)]
    d = dialog(*msgs)
    limit = REPLY_PRIMING + tok(msgs[0]) + tok(msgs[3]) + 60
    out = cm_for_limit(limit)(d)
    assert [m.content for m in out.messages] == ["sys", "q" * 40]


def test_images_drop_whole_and_fit_whole():
    msgs = [text("sys", Roles.SYSTEM), text("a" * 4000), image(), text("look at this")]
    d = dialog(*msgs)
    limit = REPLY_PRIMING + tok(msgs[0]) + tok(msgs[2]) + tok(msgs[3]) + 20
    out = cm_for_limit(limit)(d)
    assert [m.modality for m in out.messages] == [Modalities.TEXT, Modalities.IMAGE, Modalities.TEXT]
    assert out.messages[1].content == PNG
    out = cm_for_limit(limit - 30)(d)
    assert [m.content for m in out.messages] == ["sys", "look at this"]


def test_tool_call_and_results_are_kept_together():
    msgs = [
        text("sys", Roles.SYSTEM),
        text("task " * 200),
        call("a", "b"),
        result("a", "a" * 399 + "A"),
        result("b", "b" * 399 + "B"),
        text("continue"),
    ]
    d = dialog(*msgs)
    unit = sum(tok(m) for m in msgs[2:5])
    limit = REPLY_PRIMING + tok(msgs[0]) + tok(msgs[5]) + unit + 10
    out = cm_for_limit(limit)(d)
    assert [m.role for m in out.messages] == [Roles.SYSTEM, Roles.TOOL_CALL, Roles.TOOL, Roles.TOOL, Roles.USER]
    # one token short of the unit: the results are cut (ends kept), never split from their call
    out = cm_for_limit(limit - 11)(d)
    assert [m.role for m in out.messages] == [Roles.SYSTEM, Roles.TOOL_CALL, Roles.TOOL, Roles.TOOL, Roles.USER]
    assert out.messages[2].content.startswith(TRUNCATION_MARKER) and out.messages[2].content.endswith("aA")
    assert out.messages[3].content.startswith(TRUNCATION_MARKER) and out.messages[3].content.endswith("bB")
    assert estimate_messages_tokens(out.messages) <= limit - 11
    assert [m.metadata["tool_call_id"] for m in out.messages[2:4]] == ["a", "b"]
    # no room for the call itself: call and both results go together
    out = cm_for_limit(REPLY_PRIMING + tok(msgs[0]) + tok(msgs[5]) + 40)(d)
    assert [m.role for m in out.messages] == [Roles.SYSTEM, Roles.USER]


def test_results_without_ids_stay_with_the_preceding_call():
    msgs = [text("sys", Roles.SYSTEM), text("w" * 2000), call("a"), result(None, "r1"), text("next")]
    d = dialog(*msgs)
    limit = REPLY_PRIMING + sum(tok(m) for m in msgs) - tok(msgs[1]) + 10
    out = cm_for_limit(limit)(d)
    assert [m.role for m in out.messages] == [Roles.SYSTEM, Roles.TOOL_CALL, Roles.TOOL, Roles.USER]
    out = cm_for_limit(REPLY_PRIMING + tok(msgs[0]) + tok(msgs[4]) + 5)(d)
    assert [m.role for m in out.messages] == [Roles.SYSTEM, Roles.USER]


def test_orphaned_tool_results_are_dropped():
    # e.g. a dialog forked with last_n that cut the call off: its result is an orphan
    msgs = [
        text("sys", Roles.SYSTEM),
        text("v" * 2000),
        result("gone", "orphan result"),
        call("c1"),
        result("c1", "kept result"),
        text("next"),
    ]
    d = dialog(*msgs)
    limit = REPLY_PRIMING + sum(tok(m) for m in msgs) - tok(msgs[1]) + 10
    out = cm_for_limit(limit)(d)
    assert [m.content for m in out.messages] == ["sys", "", "kept result", "next"]
    assert all(m.metadata.get("tool_call_id") != "gone" for m in out.messages)


def test_result_whose_call_is_in_the_head_is_not_an_orphan():
    msgs = [call("h"), result("h", "head result"), text("x" * 2000), text("end")]
    d = dialog(*msgs)
    out = cm_for_limit(REPLY_PRIMING + tok(msgs[0]) + tok(msgs[3]) + 20)(d)
    assert [m.content for m in out.messages] == ["", "end"]


def test_tiny_windows_keep_only_the_head(caplog):
    d = dialog(text("a fairly long system prompt " * 5, Roles.SYSTEM), text("question"))
    with caplog.at_level(logging.WARNING, logger="lllm.agent"):
        out = DefaultContextManager("tiny", max_tokens=10)(d)
    assert list(out.messages) == [d.messages[0]] and out.parent is d
    assert "alone exceeds the context limit (8 tokens) of model 'tiny'" in caplog.text
    out = DefaultContextManager("tiny", max_tokens=1)(d)
    assert len(out) == 1


def test_result_is_usable_as_a_dialog():
    msgs = [text("sys", Roles.SYSTEM)] + [text("m" * 400) for _ in range(5)]
    d = dialog(*msgs)
    out = cm_for_limit(250)(d)
    out.append(text("appended to the working copy"))
    assert len(d) == 6 and out.tail.metadata["dialog_id"] == out.dialog_id


# -- config and registry (§1.6) -----------------------------------------------------------------


def test_build_disabled():
    assert build_context_manager(None, "m") is None
    assert build_context_manager({"type": None}, "m") is None
    assert build_context_manager({"type": None, "max_tokens": 5}, "m") is None


def test_build_default():
    cm = build_context_manager({}, "gpt-x")
    assert type(cm) is DefaultContextManager and cm.model_name == "gpt-x" and cm.max_tokens is None
    cm = build_context_manager({"type": "default", "max_tokens": 1000}, "m")
    assert cm.window == 1000 and cm.limit == 750
    assert build_context_manager({"max_tokens": 2000}, "m").window == 2000


def test_build_passes_window_lookup_to_the_default():
    cm = build_context_manager({}, "m", window_lookup=lambda model: 50_000)
    assert cm.window == 50_000


def test_build_returns_instances_as_is():
    cm = DefaultContextManager("m")
    assert build_context_manager(cm, "other") is cm


@pytest.mark.parametrize("bad", ["default", 5, ["default"], True])
def test_build_non_dict_is_config_error(bad):
    with pytest.raises(ConfigError) as ei:
        build_context_manager(bad, "m")
    assert str(ei.value) == (
        "context_manager must be a mapping such as {type: default, max_tokens: 100000} "
        f"or null, got {type(bad).__name__}: {bad!r}"
    )


def test_build_non_string_type_is_config_error():
    with pytest.raises(ConfigError, match="context_manager.type must be a string or null, got int: 3"):
        build_context_manager({"type": 3}, "m")


def test_build_unknown_type():
    with pytest.raises(ResourceNotFoundError) as ei:
        build_context_manager({"type": "summarizer"}, "m")
    assert str(ei.value) == "Unknown context manager type 'summarizer'. Registered: ['default']"
    assert ei.value.key == "summarizer" and isinstance(ei.value, KeyError)
    with pytest.raises(ResourceNotFoundError) as ei:
        build_context_manager({"type": "defualt"}, "m")
    assert ei.value.suggestions == ["default"] and "did you mean ['default']?" in str(ei.value)


def test_build_bad_options_are_config_errors():
    with pytest.raises(
        ConfigError,
        match=r"context_manager type 'default' \(DefaultContextManager\) rejected "
        r"the options \['max_tokens', 'ratio'\]",
    ):
        build_context_manager({"max_tokens": 10, "ratio": 0.5}, "m")
    with pytest.raises(ConfigError, match="must be a positive integer"):
        build_context_manager({"max_tokens": -1}, "m")


class KeepLast(ContextManager):
    name = "keep_last"

    def __init__(self, model_name, n=1):
        self.model_name, self.n = model_name, n

    def __call__(self, dialog):
        return dialog.fork(last_n=self.n)


def test_runtime_registered_manager():
    rt = Runtime("cm-test")
    rt.register_context_manager(KeepLast)
    cm = build_context_manager({"type": "keep_last", "n": 2}, "gpt", rt, window_lookup=lambda m: 1)
    assert isinstance(cm, KeepLast) and (cm.model_name, cm.n) == ("gpt", 2)
    with pytest.raises(ResourceNotFoundError):
        build_context_manager({"type": "keep_last"}, "gpt")  # not in the module registry


def test_runtime_registry_overrides_default():
    class MyDefault(KeepLast):
        name = "default"

    rt = Runtime("cm-test2")
    rt.register_context_manager(MyDefault)
    assert isinstance(build_context_manager({}, "m", rt), MyDefault)


def test_module_registry(monkeypatch):
    monkeypatch.setattr(ctx, "_REGISTRY", dict(ctx._REGISTRY))
    assert register_context_manager(KeepLast) is KeepLast
    assert isinstance(build_context_manager({"type": "keep_last"}, "m"), KeepLast)
    private = {}
    register_context_manager(KeepLast, private)
    assert private == {"keep_last": KeepLast}


def test_register_requires_a_name():
    class Nameless(ContextManager):
        def __call__(self, dialog):
            return dialog

    with pytest.raises(ValueError) as ei:
        register_context_manager(Nameless)
    assert str(ei.value) == (
        "Context manager class Nameless must define a non-empty class attribute `name` (e.g. name = 'my_manager')."
    )
    with pytest.raises(TypeError, match="register_context_manager\\(\\) needs a class, got KeepLast"):
        register_context_manager(KeepLast("m"))
