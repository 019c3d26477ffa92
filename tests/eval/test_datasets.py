"""Session 7 review: data set files a user really writes (a BOM, another encoding, a malformed case) are read
right or refused with the file and line named."""

from __future__ import annotations

import json

import pytest

from lllm.eval.datasets import DatasetError, load_dataset


def test_a_file_saved_with_a_byte_order_mark_keeps_its_first_case(tmp_path):
    p = tmp_path / "ds.jsonl"
    p.write_text('{"task": "2+2", "expected": "4"}\n{"task": "3+3", "expected": "6"}\n', encoding="utf-8-sig")
    cases = load_dataset(p)
    assert [(c.task, c.expected) for c in cases] == [("2+2", "4"), ("3+3", "6")]


def test_a_file_not_in_utf8_is_refused_naming_it_and_the_line(tmp_path):
    p = tmp_path / "latin.jsonl"
    p.write_bytes(b'{"task": "ok"}\n{"task": "caf\xe9"}\n')
    with pytest.raises(DatasetError, match=r"latin\.jsonl, line 2: .*UTF-8"):
        load_dataset(p)


@pytest.mark.parametrize("metadata", ['"x"', "[1, 2]", "3"])
def test_metadata_that_is_not_an_object_is_refused_naming_the_line(tmp_path, metadata):
    p = tmp_path / "ds.jsonl"
    p.write_text(f'{{"task": "a"}}\n{{"task": "b", "metadata": {metadata}}}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"ds\.jsonl, line 2: .*metadata"):
        load_dataset(p)


def test_a_task_holding_a_unicode_line_separator_stays_one_case(tmp_path):
    tasks = ["first\u2028second", "caf\u00e9\x85next", "para\u2029graph"]
    p = tmp_path / "ds.jsonl"
    p.write_text("".join(json.dumps({"task": t}, ensure_ascii=False) + "\n" for t in tasks), encoding="utf-8")
    assert [c.task for c in load_dataset(p)] == tasks


def test_an_id_colliding_with_an_unnamed_case_says_where_the_other_comes_from(tmp_path):
    p = tmp_path / "ds.jsonl"
    p.write_text('"first"\n{"task": "second", "id": "0"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"repeated: \['0'\].*line 1.*line 2"):
        load_dataset(p)
