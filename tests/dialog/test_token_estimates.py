import subprocess
import sys

from lllm.core.const import Modalities, Roles
from lllm.core.message import FunctionCall, Message
from lllm.core.tokens import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    REPLY_PRIMING,
    estimate_message_tokens,
    estimate_messages_tokens,
    estimate_tokens,
)


def test_estimate_tokens_is_ceil_quarter_length():
    assert [estimate_tokens(s) for s in ("", "a", "abcd", "abcde", "x" * 400)] == [0, 1, 1, 2, 100]
    assert estimate_tokens(None) == 0 and estimate_tokens(12345) == 2


def test_message_tokens():
    m = Message(role=Roles.USER, content="abcdefgh", name="u")
    assert estimate_message_tokens(m) == 2 + 1 + MESSAGE_OVERHEAD
    assert estimate_message_tokens(Message(role=Roles.USER, content="abcdefgh")) == 2 + MESSAGE_OVERHEAD


def test_images_cost_a_fixed_amount():
    small = Message(role=Roles.USER, content="A" * 10, modality=Modalities.IMAGE, metadata={"caption": "abcd"})
    big = Message(role=Roles.USER, content="A" * 100_000, modality=Modalities.IMAGE)
    assert estimate_message_tokens(small) == IMAGE_TOKENS + 1 + MESSAGE_OVERHEAD
    assert estimate_message_tokens(big) == IMAGE_TOKENS + MESSAGE_OVERHEAD
    parts = Message(
        role=Roles.USER,
        content=[{"type": "text", "text": "abcd"}, {"type": "image_url", "image_url": {"url": "data:..."}}],
    )
    assert estimate_message_tokens(parts) == 1 + IMAGE_TOKENS + MESSAGE_OVERHEAD


def test_tool_calls_count():
    m = Message(
        role=Roles.TOOL_CALL,
        content="",
        function_calls=[FunctionCall(id="1", name="search", arguments={"q": "x" * 40})],
    )
    assert estimate_message_tokens(m) > 10 + MESSAGE_OVERHEAD


def test_messages_total():
    ms = [Message(role=Roles.USER, content="abcd"), Message(role=Roles.ASSISTANT, content="abcd")]
    assert estimate_messages_tokens(ms) == 2 * (1 + MESSAGE_OVERHEAD) + REPLY_PRIMING
    assert estimate_messages_tokens([]) == 0
    assert estimate_messages_tokens(iter(ms)) == estimate_messages_tokens(ms)


def test_imports_stay_light():
    code = (
        "import sys, lllm.core.dialog, lllm.core.context, lllm.core.tokens, lllm.logging; "
        "bad = [m for m in ('PIL', 'PIL.Image', 'tiktoken') "
        "if m in sys.modules]; print(bad)"
    )
    # lllm/__init__ may import prompt/runtime; the modules here must not pull in PIL or tiktoken
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
