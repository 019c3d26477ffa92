"""``lllm batch`` task files saved with a UTF-8 byte-order mark (Windows editors write one)."""

from __future__ import annotations

import io

from lllm.logging.cli import _read_tasks


def test_a_task_file_with_a_byte_order_mark_reads_its_first_task_like_the_others(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_bytes('{"topic": "a"}\r\n{"topic": "b"}\r\n'.encode("utf-8-sig"))
    assert _read_tasks(str(path)) == [{"topic": "a"}, {"topic": "b"}]
    text = tmp_path / "tasks.txt"
    text.write_bytes("first task\nsecond task\n".encode("utf-8-sig"))
    assert _read_tasks(str(text)) == ["first task", "second task"]


def test_tasks_on_stdin_with_a_byte_order_mark(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('\ufeff{"topic": "a"}\nplain\n'))
    assert _read_tasks("-") == [{"topic": "a"}, "plain"]


def test_a_prompt_file_with_a_byte_order_mark_gives_the_template_without_it(tmp_path):
    from lllm.logging.cli import parse_prompt

    (tmp_path / "ask.md").write_bytes("Ask about {topic}.\n".encode("utf-8-sig"))
    assert parse_prompt(f"ask=@{tmp_path / 'ask.md'}") == {"ask": "Ask about {topic}.\n"}
